"""Other tools' columns mapped to manifest fields: explicit ``field=column`` pairs and presets for
distilabel, a Hugging Face dataset card and Croissant 1.1 provenance.

How each preset marks human rows (source human, generation 0): distilabel, a row whose generating
model (``model_name``, ``model_name_<step>``, ``generation_model``) is null or blank; croissant, a
row without ``prov:wasGeneratedBy``; hf-card, every row when the card's creator tags are human only
(crowdsourced, expert-generated, found, other). A manifest of one's own says ``source: human``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cliffwatch.core.errors import ConfigError, DataError, _first_line
from cliffwatch.core.files import require_regular
from cliffwatch.core.yamlshape import yaml_shape_problem
from cliffwatch.data.manifest.hashing import text_hashes
from cliffwatch.data.manifest.schema import MANIFEST_FIELDS
from cliffwatch.data.tables import MAX_METADATA_BYTES, MAX_NESTING, file_bytes

PRESETS = ("distilabel", "hf-card", "croissant")
# distilabel names the generating model per row: `model_name` (1.x, also per step as
# `model_name_<step>`) or `generation_model` (0.x)
_DISTILABEL_MODEL = ("model_name", "generation_model")
_DISTILABEL_TEXT = ("generation", "response", "text")
_PROV = {"generated_by": "wasGeneratedBy", "derived_from": "wasDerivedFrom", "attributed_to": "wasAttributedTo"}
# Hugging Face dataset-card creator tags that mean "written or labelled by people"
_HUMAN_CREATORS = {"crowdsourced", "expert-generated", "found", "other"}


@dataclass(frozen=True)
class Mapping:
    """How another tool's columns become manifest fields: ``columns`` (field -> column) and at most
    one preset (distilabel, hf-card, croissant). Strict: a field that is not a manifest field, or a
    column the file lacks, is an error, never silently skipped."""

    columns: dict[str, str] = field(default_factory=dict)
    preset: str | None = None

    @classmethod
    def parse(cls, specs: list[str] | None) -> "Mapping":
        """From CLI items: a preset name or ``field=column``, e.g. ``["distilabel", "id=uid"]``."""
        columns, preset = {}, None
        for spec in specs or []:
            if "=" in spec:
                name, _, column = spec.partition("=")
                name, column = name.strip(), column.strip()
                if name not in MANIFEST_FIELDS:
                    raise ConfigError(f"mapping {spec!r}: {name!r} is not a manifest field (one of {', '.join(MANIFEST_FIELDS)})")
                if not column:
                    raise ConfigError(f"mapping {spec!r}: no column named after '='")
                if name in columns:
                    raise ConfigError(f"mapping {spec!r}: field {name!r} is mapped twice")
                columns[name] = column
            elif spec in PRESETS:
                if preset is not None:
                    raise ConfigError(f"mapping {spec!r}: only one preset at a time (already {preset!r})")
                preset = spec
            else:
                raise ConfigError(f"mapping {spec!r}: expected FIELD=COLUMN or a preset ({', '.join(PRESETS)})")
        return cls(columns, preset)



def suggest_mapping(columns: list[str], path: Path) -> str:
    """A hint for a file whose columns are not the manifest's: the preset its columns (or the
    dataset card beside it) match, else how to map columns."""
    if any(c in _DISTILABEL_MODEL or c.startswith("model_name_") for c in columns):
        return "the columns look like distilabel output: use --mapping distilabel (rows without a model are human)"
    if any(c in (f"prov:{local}", local) for local in _PROV.values() for c in columns):
        return "the columns hold Croissant provenance: use --mapping croissant"
    card = (path if path.is_dir() else path.parent) / "README.md"
    try:
        if card.is_file():  # a regular file (a FIFO is not): read its head only
            with card.open("rb") as file:
                head = file.read(MAX_METADATA_BYTES).decode("utf-8", "replace")
        if card.is_file() and "_creators:" in head:
            return "a dataset card with creator tags is beside it: use --mapping hf-card"
    except OSError:
        pass
    return "map your columns with --mapping FIELD=COLUMN, or a preset (distilabel, hf-card, croissant; docs/guard.md)"


def apply_mapping(raw: pa.Table, mapping: Mapping, path: Path) -> pa.Table:
    for name, column in mapping.columns.items():
        if column not in raw.column_names:
            raise DataError(f"{path}: mapping {name}={column}: no column {column!r} (columns: {', '.join(raw.column_names)})")
    # distilabel's `generation` column is the generated text, not a recursion depth
    taken = [n for n in MANIFEST_FIELDS if n in raw.column_names and not (mapping.preset == "distilabel" and n == "generation")]
    out = {name: raw.column(name) for name in taken}
    out.update({name: raw.column(column) for name, column in mapping.columns.items()})
    n = raw.num_rows
    if mapping.preset == "distilabel":
        _distilabel(raw, out, mapping, path)
    elif mapping.preset == "croissant":
        _croissant(raw, out, mapping, path)
    elif mapping.preset == "hf-card":
        _hf_card(out, mapping, path, n)
    if mapping.preset is not None and "id" not in out:
        # tools that export rows without ids: the row number is the id
        out["id"] = pa.array(np.char.add("row-", np.arange(n).astype(str)) if n else [], pa.string())
    if "content_hash" not in out and "text" in out:
        out["content_hash"] = text_hashes(out["text"])
    return pa.table(out)


def _distilabel(raw: pa.Table, out: dict, mapping: Mapping, path: Path) -> None:
    if "generator" not in mapping.columns:
        model = [c for c in raw.column_names if c in _DISTILABEL_MODEL or c.startswith("model_name_")]
        if not model:
            raise DataError(f"{path}: mapping distilabel: no generating-model column ({' or '.join(_DISTILABEL_MODEL)}, or model_name_<step>)")
        out["generator"] = raw.column(model[0])
    if "text" not in mapping.columns and "text" not in out:
        text = [c for c in _DISTILABEL_TEXT if c in raw.column_names]
        if text:
            out["text"] = raw.column(text[0])
    # a row with a generating model is synthetic, made by a model trained on human data (depth 1),
    # unless the file says otherwise; a row with none (null or blank) was not generated: human
    generator = out["generator"]
    if not (pa.types.is_string(generator.type) or pa.types.is_large_string(generator.type)):
        raise DataError(f"{path}: mapping distilabel: the generating-model column holds {generator.type}, not names")
    has_model = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(generator)), 0), False)
    out.setdefault("source", pc.if_else(has_model, "synthetic", "human"))
    out.setdefault("generation", pc.if_else(has_model, 1, 0).cast(pa.int64()))


def _croissant(raw: pa.Table, out: dict, mapping: Mapping, path: Path) -> None:
    """Croissant 1.1 record-level provenance (PROV-O): wasGeneratedBy (the activity that made the
    item), wasDerivedFrom (the item it came from), wasAttributedTo (the agent: here the model)."""
    found = {}
    for key, local in _PROV.items():
        for column in (f"prov:{local}", local):
            if column in raw.column_names:
                found[key] = raw.column(column)
                break
    if "generated_by" not in found:
        raise DataError(f"{path}: mapping croissant: no prov:wasGeneratedBy column (columns: {', '.join(raw.column_names)})")
    if "attributed_to" in found and "generator" not in mapping.columns:
        out["generator"] = found["attributed_to"]
    if "derived_from" in found and "parent_id" not in mapping.columns:
        out["parent_id"] = found["derived_from"]
    # an item some activity generated is synthetic; one with no generating activity is human data
    generated = pc.is_valid(found["generated_by"])
    out.setdefault("source", pc.if_else(generated, "synthetic", "human"))
    out.setdefault("generation", pc.if_else(generated, 1, 0).cast(pa.int64()))


def _hf_card(out: dict, mapping: Mapping, path: Path, n: int) -> None:
    """A Hugging Face dataset card's creator tags hold for every row: ``language_creators``
    (who wrote the text) or ``annotations_creators`` (who labelled it) containing
    ``machine-generated`` makes the rows synthetic; only human creators make them human; both: unknown."""
    card, meta = _card_metadata(path)
    tags = set()
    for key in ("language_creators", "annotations_creators"):
        value = meta.get(key) or []
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
            raise DataError(f"{card}: mapping hf-card: {key} must be a tag or a list of tags, got {str(value)[:60]!r}")
        tags.update(value)
    if not tags:
        raise DataError(f"{path}: mapping hf-card: the dataset card has neither language_creators nor annotations_creators")
    machine = "machine-generated" in tags
    human = bool(tags & _HUMAN_CREATORS)
    source = "synthetic" if machine and not human else "human" if human and not machine else "unknown"
    out.setdefault("source", pa.array([source] * n, pa.string()))
    out.setdefault("generation", pa.array(np.full(n, int(source == "synthetic")), pa.int64()))


def _card_metadata(path: Path) -> tuple[Path, dict]:
    """(the dataset card beside the manifest, its YAML metadata block)."""
    import yaml

    folder = path if path.is_dir() else path.parent
    card = folder / "README.md"
    if not os.path.lexists(card):
        raise DataError(f"{path}: mapping hf-card: no dataset card ({card})")
    require_regular(card, "a dataset card (README.md)")
    data = file_bytes(card, MAX_METADATA_BYTES)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"{card}: mapping hf-card: not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
                        f"{error.start}); save the card as UTF-8") from None
    text = text.replace("\r\n", "\n")
    if not text.startswith("---"):
        raise DataError(f"{card}: mapping hf-card: no YAML metadata block at the top")
    block = text.split("---", 2)[1]
    try:
        _check_yaml_shape(block, card)
        meta = yaml.safe_load(block) or {}
    except (yaml.YAMLError, ValueError, RecursionError) as err:
        raise DataError(f"{card}: mapping hf-card: invalid YAML metadata ({_first_line(err)})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{card}: mapping hf-card: the metadata block is not a mapping of fields")
    return card, meta


def _check_yaml_shape(block: str, card: Path) -> None:
    problem = yaml_shape_problem(block, MAX_NESTING, MAX_NESTING)
    if problem is not None:
        raise DataError(f"{card}: mapping hf-card: metadata line {problem[0]}: {problem[1]}")