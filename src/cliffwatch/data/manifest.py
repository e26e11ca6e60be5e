"""Provenance manifests: one row per training item, saying where it came from.

Columns (``MANIFEST_FIELDS``): ``id``, ``source`` (human, synthetic, edited: a model's output edited
by people or people's text edited by a model, unknown), ``generator``
(model and version), ``family`` (the generator's model family), ``generation`` (recursion depth: 0
for human data, k for data made by a model trained on depth k-1 data), ``parent_id`` (the item this
one was derived from), ``verified``, ``content_hash``, and optional ``text`` and ``license``.

Read from JSONL, Parquet, CSV or a Hugging Face ``save_to_disk`` folder (its Arrow files are read
with pyarrow; the ``datasets`` package is not needed). Other tools' columns are mapped in with a
strict ``Mapping``: explicit ``field=column`` pairs and presets for distilabel, a Hugging Face
dataset card and Croissant 1.1 provenance. Every check is a columnar (pyarrow / numpy) operation,
so a manifest of millions of rows validates in seconds.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cliffwatch.core.errors import ConfigError, DataError, _first_line
from cliffwatch.core.files import replace_atomically

SOURCES = ("human", "synthetic", "edited", "unknown")
REQUIRED = ("id", "source", "generation", "content_hash")
MANIFEST_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("source", pa.string()),
    ("generator", pa.string()),
    ("family", pa.string()),
    ("generation", pa.int64()),
    ("parent_id", pa.string()),
    ("verified", pa.bool_()),
    ("content_hash", pa.string()),
    ("text", pa.string()),
    ("license", pa.string()),
])
MANIFEST_FIELDS = tuple(MANIFEST_SCHEMA.names)
PRESETS = ("distilabel", "hf-card", "croissant")
# manifests from this many rows key their strings by DuckDB hashes; smaller ones by Arrow's
# dictionary codes (quicker than a round trip to DuckDB at that size)
HASHED_FROM = 100_000
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


# ---- reading ------------------------------------------------------------------------------------


def read_manifest(path: str | Path, mapping: Mapping | None = None, need_text: bool = False) -> pa.Table:
    """The validated manifest at ``path`` (a file or a Hugging Face dataset folder) as a table with
    ``MANIFEST_SCHEMA``. ``need_text``: keep the text column (near-duplicate detection needs it;
    otherwise it is not loaded, which keeps a large Parquet manifest cheap)."""
    path = Path(path)
    mapping = mapping or Mapping()
    raw = _read_raw(path, skip=() if need_text or mapping.preset or mapping.columns else ("text",))
    table = _apply_mapping(raw, mapping, path)
    if not need_text and "text" in table.column_names and "content_hash" in table.column_names:
        table = table.drop_columns(["text"])
    return validate(table, str(path))


def _read_raw(path: Path, skip: tuple[str, ...] = ()) -> pa.Table:
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    try:
        if path.is_dir():
            return _read_hf_folder(path)
        suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            if "content_hash" in names:  # without it the text is hashed, so it is read
                names = [c for c in names if c not in skip]
            return pq.read_table(path, columns=names)
        if suffix in (".jsonl", ".ndjson", ".jsonl.gz", ".json"):
            import pyarrow.json as pj

            return pj.read_json(path)
        if suffix in (".csv", ".csv.gz"):
            import pyarrow.csv as pcsv

            # ids and hashes stay strings even when they look like numbers; an empty cell is null
            options = pcsv.ConvertOptions(strings_can_be_null=True, column_types={"id": pa.string(), "parent_id": pa.string(), "content_hash": pa.string()})
            return pcsv.read_csv(path, convert_options=options)
        if suffix == ".arrow":
            return _read_arrow(path)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: unreadable ({_first_line(err)})") from None
    raise DataError(f"{path}: unknown manifest format (expected .jsonl, .parquet, .csv or a Hugging Face dataset folder)")


def _read_arrow(path: Path) -> pa.Table:
    """An Arrow file: ``datasets`` writes the IPC stream format, other tools the file format."""
    with pa.memory_map(str(path)) as source:
        try:
            return pa.ipc.open_stream(source).read_all()
        except pa.ArrowInvalid:
            source.seek(0)
            return pa.ipc.open_file(source).read_all()


def _read_hf_folder(path: Path) -> pa.Table:
    """A ``Dataset.save_to_disk`` folder (state.json lists its Arrow shards), or a DatasetDict
    folder (dataset_dict.json lists its splits: all splits are read, in order)."""
    if (path / "dataset_dict.json").exists():
        splits = json.loads((path / "dataset_dict.json").read_text())["splits"]
        return pa.concat_tables([_read_hf_folder(path / split) for split in splits], promote_options="default")
    state = path / "state.json"
    if not state.exists():
        raise DataError(f"{path}: a folder, but not a Hugging Face dataset (no state.json or dataset_dict.json)")
    shards = [path / f["filename"] for f in json.loads(state.read_text()).get("_data_files", [])]
    if not shards:
        raise DataError(f"{state}: lists no data files")
    return pa.concat_tables([_read_arrow(shard) for shard in shards])


# ---- mapping ------------------------------------------------------------------------------------


def _apply_mapping(raw: pa.Table, mapping: Mapping, path: Path) -> pa.Table:
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
    # unless the file says otherwise
    has_model = pc.is_valid(out["generator"])
    out.setdefault("source", pc.if_else(has_model, "synthetic", "unknown"))
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
    card = _card_metadata(path)
    tags = set()
    for key in ("language_creators", "annotations_creators"):
        value = card.get(key) or []
        tags.update([value] if isinstance(value, str) else value)
    if not tags:
        raise DataError(f"{path}: mapping hf-card: the dataset card has neither language_creators nor annotations_creators")
    machine = "machine-generated" in tags
    human = bool(tags & _HUMAN_CREATORS)
    source = "synthetic" if machine and not human else "human" if human and not machine else "unknown"
    out.setdefault("source", pa.array([source] * n, pa.string()))
    out.setdefault("generation", pa.array(np.full(n, int(source == "synthetic")), pa.int64()))


def _card_metadata(path: Path) -> dict:
    import yaml

    folder = path if path.is_dir() else path.parent
    card = folder / "README.md"
    if not card.exists():
        raise DataError(f"{path}: mapping hf-card: no dataset card ({card})")
    text = card.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise DataError(f"{card}: mapping hf-card: no YAML metadata block at the top")
    try:
        meta = yaml.safe_load(text.split("---", 2)[1]) or {}
    except (yaml.YAMLError, IndexError) as err:
        raise DataError(f"{card}: mapping hf-card: invalid YAML metadata ({_first_line(err)})") from None
    return meta if isinstance(meta, dict) else {}


# ---- validation ---------------------------------------------------------------------------------


def validate(table: pa.Table, where: str = "manifest") -> pa.Table:
    """The table with MANIFEST_SCHEMA (absent optional columns all null), or DataError naming the
    first problem: missing columns, empty, bad types, unknown sources, depths that are negative or
    contradict the source, duplicate ids, dangling parents, parent cycles."""
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        hint = " (or a text column to hash)" if missing == ["content_hash"] else ""
        raise DataError(f"{where}: missing required column(s): {', '.join(missing)}{hint}")
    if table.num_rows == 0:
        raise DataError(f"{where}: the manifest is empty")
    columns = {}
    for spec in MANIFEST_SCHEMA:
        if spec.name not in table.column_names:
            columns[spec.name] = pa.nulls(table.num_rows, spec.type)
            continue
        column = table.column(spec.name)
        try:
            columns[spec.name] = column.cast(spec.type) if column.type != spec.type else column
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            raise DataError(f"{where}: column {spec.name!r} cannot be read as {spec.type} (it is {column.type})") from None
    out = pa.table(columns, schema=MANIFEST_SCHEMA)
    _check_required_values(out, where)
    _check_sources(out, where)
    _check_depths(out, where)
    _check_ids(out, where)
    return out


def _first(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(np.flatnonzero(np.asarray(pc.fill_null(mask, False)))[0])


def _check_required_values(table: pa.Table, where: str) -> None:
    for name in REQUIRED:
        nulls = table.column(name).null_count
        if nulls:
            row = _first(pc.is_null(table.column(name)))
            raise DataError(f"{where}: row {row}: {name} is empty ({nulls} row(s) without one)")


def _check_sources(table: pa.Table, where: str) -> None:
    source = table.column("source")
    bad = pc.invert(pc.is_in(source, value_set=pa.array(SOURCES)))
    if pc.any(bad).as_py():
        row = _first(bad)
        values = pc.unique(pc.filter(source, bad)).to_pylist()
        raise DataError(f"{where}: row {row}: unknown source {source[row].as_py()!r} "
                        f"(unknown values: {', '.join(map(repr, values[:5]))}; allowed: {', '.join(SOURCES)})")


def _check_depths(table: pa.Table, where: str) -> None:
    depth, source = table.column("generation"), table.column("source")
    checks = [
        (pc.less(depth, 0), "generation (recursion depth) is negative"),
        (pc.and_(pc.equal(source, "human"), pc.not_equal(depth, 0)), "human data must have generation 0"),
        (pc.and_(pc.is_in(source, value_set=pa.array(["synthetic", "edited"])), pc.equal(depth, 0)),
         "synthetic and edited data must have generation >= 1 (a model made or changed it)"),
    ]
    for mask, message in checks:
        if pc.any(mask).as_py():
            row = _first(mask)
            raise DataError(f"{where}: row {row} (id {table.column('id')[row].as_py()!r}): {message}, got {depth[row].as_py()}")


def _check_ids(table: pa.Table, where: str) -> None:
    ids = table.column("id").combine_chunks()
    n = len(ids)
    parent = table.column("parent_id").combine_chunks()
    has_parent = pc.is_valid(parent)
    parents = pc.filter(parent, has_parent) if parent.null_count else parent
    parent_row = _parent_rows(ids, parents, n < HASHED_FROM, where)
    if parent_row is None:  # two distinct strings share a hash: exact keys
        parent_row = _parent_rows(ids, parents, True, where)
    if not len(parents):
        return
    child = np.flatnonzero(has_parent.to_numpy(zero_copy_only=False))
    dangling = np.flatnonzero(parent_row < 0)
    if dangling.size:
        row = int(child[dangling[0]])
        raise DataError(f"{where}: row {row} (id {ids[row].as_py()!r}): parent_id {parent[row].as_py()!r} is not an id in the manifest")
    up = np.full(n, -1, dtype=np.int64)
    up[child] = parent_row
    cycle = _on_cycle(up)
    if cycle.size:
        row = int(cycle[0])
        raise DataError(f"{where}: parent_id cycle through id {ids[row].as_py()!r} (row {row}; {cycle.size} row(s) on or below a cycle)")


def _parent_rows(ids: pa.Array, parents: pa.Array, exact: bool, where: str) -> np.ndarray | None:
    """The row of each parent among the ids (-1: no such id), or None when two distinct strings
    share a key; DataError on a duplicate id. Sort-based: the ids' keys are sorted once (duplicates
    are neighbours), the parents' keys are sorted and looked up in order (cache-friendly)."""
    id_key, parent_key = string_keys([ids, parents], exact)
    n = len(id_key)
    with ThreadPoolExecutor(1) as pool:  # numpy sorts without the GIL: the two sorts share the cores
        parents_sorted = pool.submit(np.argsort, parent_key)
        order = np.argsort(id_key)
        by_key = parents_sorted.result()
    sorted_key = id_key[order]
    repeat = np.flatnonzero(sorted_key[1:] == sorted_key[:-1])
    if repeat.size:
        same = repeat[equal_mask(take_rows(ids, order[repeat]), take_rows(ids, order[repeat + 1]))]
        if not same.size:
            return None
        row = int(min(order[same].min(), order[same + 1].min()))
        raise DataError(f"{where}: duplicate id {ids[row].as_py()!r} (first at row {row}; "
                        f"{len(pc.unique(take_rows(ids, order[same])))} id(s) repeat)")
    at = np.minimum(np.searchsorted(sorted_key, parent_key[by_key]), n - 1)
    row = np.empty(len(parent_key), np.int64)
    row[by_key] = np.where(sorted_key[at] == parent_key[by_key], order[at], -1)
    found = row >= 0
    named = parents if found.all() else parents.filter(pa.array(found))
    return row if equal_mask(take_rows(ids, row[found]), named).all() else None


def string_keys(arrays: list[pa.Array], exact: bool = False) -> list[np.ndarray]:
    """A uint64 key per string of each array, equal for equal strings across all of them (nulls
    not allowed). DuckDB's hash, multithreaded, when installed: distinct strings may share a key
    (about n**2 / 2**65 pairs), so callers confirm matches on the strings. ``exact`` (or without
    DuckDB): Arrow dictionary codes, which never collide but hash on one thread."""
    try:
        import duckdb
    except ImportError:
        exact = True
    if exact:
        codes = pc.dictionary_encode(pa.concat_arrays(arrays)).indices.to_numpy(zero_copy_only=False).astype(np.uint64)
        return np.split(codes, np.cumsum([len(a) for a in arrays])[:-1])
    out = []
    for array in arrays:
        frame = pa.table({"v": array})  # noqa: F841 (read by name in the query)
        out.append(duckdb.sql("select hash(v) as k from frame").fetchnumpy()["k"] if len(array) else np.zeros(0, np.uint64))
    return out


def take_rows(strings: pa.Array, rows: np.ndarray) -> pa.Array:
    return strings.take(pa.array(rows, pa.int64()))


def equal_mask(left: pa.Array, right: pa.Array) -> np.ndarray:
    """left == right, element by element, as a numpy bool array."""
    return pc.equal(left, right).to_numpy(zero_copy_only=False).astype(bool) if len(left) else np.zeros(0, bool)


def _on_cycle(up: np.ndarray) -> np.ndarray:
    """Rows whose parent chain never ends (reaches or lies on a cycle). ``up``: parent row, -1 = root.
    Pointer jumping: after k rounds each row points 2**k steps up its chain, so chains of any length
    resolve in log2(n) vectorised rounds."""
    n = len(up)
    jump = np.where(up < 0, n, up)  # n: a sentinel root that points to itself
    jump = np.append(jump, n)
    for _ in range(int(np.ceil(np.log2(max(n, 2)))) + 1):
        if (jump == n).all():  # every chain has ended: usually after log2(depth) rounds
            break
        jump = jump[jump]
    return np.flatnonzero(jump[:n] != n)


# ---- hashing and writing ------------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_digests(values: np.ndarray) -> pa.Array:
    """uint64 values as 16-character lowercase hex strings, vectorised (no per-row formatting)."""
    values = np.ascontiguousarray(values, dtype=">u8")  # big-endian: most significant byte first
    bytes_ = values.view(np.uint8).reshape(-1, 8)
    nibbles = np.empty((len(values), 16), dtype=np.uint8)
    nibbles[:, 0::2] = bytes_ >> 4
    nibbles[:, 1::2] = bytes_ & 15
    chars = _HEX[nibbles]
    offsets = np.arange(0, 16 * len(values) + 1, 16, dtype=np.int32)
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def row_hashes(rows: np.ndarray) -> pa.Array:
    """A 64-bit content hash per row of a 2-D numeric array (tokens or vector values), as hex.

    Each row's bytes are mixed column by column with the splitmix64 finaliser; equal rows hash
    equal, and two different rows collide with probability about 2**-64."""
    return hex_digests(mix64(rows))


def item_hashes(items) -> pa.Array:
    """Content hashes of a batch of training items as the loop holds them: Sentences (token ids;
    a sentence's hash does not depend on the batch it is in) or an (n, ...) array of vectors or states."""
    from cliffwatch.core.modality import Sentences

    if isinstance(items, Sentences):
        # each token mixed with its position, XOR-folded per sentence, mixed with the length:
        # one pass over the tokens (no padding to the longest sentence)
        lengths = items.lengths
        position = (np.arange(items.n_tokens) - np.repeat(items.offsets[:-1], lengths)).astype(np.uint64)
        tokens = _mix(items.ids.astype(np.uint64) ^ _mix(position + np.uint64(0x632BE59BD9B4E019)))
        folded = np.zeros(len(items), np.uint64)
        nonempty = lengths > 0
        if nonempty.any():  # reduceat runs from each start to the next: empty sentences are left out
            folded[nonempty] = np.bitwise_xor.reduceat(tokens, items.offsets[:-1][nonempty])
        return hex_digests(_mix(folded ^ _mix(lengths.astype(np.uint64))))
    items = np.asarray(items)
    return row_hashes(items.reshape(len(items), -1))


def mix64(rows: np.ndarray) -> np.ndarray:
    """A uint64 hash of each row of a 2-D numeric array, vectorised over rows."""
    rows = np.ascontiguousarray(rows)
    words = rows.view(np.uint64) if rows.dtype.itemsize == 8 else rows.astype(np.int64).view(np.uint64)
    state = np.full(len(words), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in words.T:  # one pass per column (a few), vectorised over rows
            state = _mix(state ^ _mix(column + np.uint64(0x632BE59BD9B4E019)))
    return state


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def text_hashes(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A content hash per text (MD5 of its UTF-8, first 16 hex digits), computed by DuckDB; null text
    gives a null hash."""
    try:
        import duckdb
    except ImportError:
        raise ConfigError("deriving content_hash from text needs duckdb (pip install duckdb) or a content_hash column") from None
    frame = pa.table({"text": text})  # noqa: F841 (read by name in the query)
    return duckdb.sql("select left(md5(text), 16) as h from frame").to_arrow_table().column("h").combine_chunks()


LOW_CARDINALITY = ["source", "generator", "family", "license"]  # columns worth a dictionary


def write_manifest(path: str | Path, *, ids, source, generation, content_hash, generator=None, family=None,
                   parent_id=None, verified=None, text=None, license=None) -> Path:
    """Validate one manifest given as columns (arrays, lists, or a scalar for a constant column)
    and write it as Parquet atomically (a temporary file renamed into place: a crash never leaves
    a half-written manifest). Returns the path."""
    import pyarrow.parquet as pq

    path = Path(path)
    n = len(ids)
    given = {"id": ids, "source": source, "generator": generator, "family": family, "generation": generation,
             "parent_id": parent_id, "verified": verified, "content_hash": content_hash, "text": text, "license": license}
    columns = {}
    for spec in MANIFEST_SCHEMA:
        value = given[spec.name]
        if value is None:
            continue
        if isinstance(value, (str, int, bool, np.integer)):
            value = [value] * n
        columns[spec.name] = pa.array(value, spec.type) if not isinstance(value, (pa.Array, pa.ChunkedArray)) else value
    table = validate(pa.table(columns), str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # ids and hashes are unique strings: dictionaries and min/max statistics would only cost time;
    # zstd at level 1 writes faster than the default snappy here and 2.5x smaller
    replace_atomically(path, lambda tmp: pq.write_table(table, tmp, use_dictionary=LOW_CARDINALITY,
                                                        write_statistics=False, compression="zstd",
                                                        compression_level=1))
    return path
