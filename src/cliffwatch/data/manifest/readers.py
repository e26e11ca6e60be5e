"""Reading a manifest file or folder into a validated table."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from cliffwatch.core.errors import DataError, _first_line
from cliffwatch.data.manifest.checks import validate
from cliffwatch.data.manifest.presets import Mapping, apply_mapping, suggest_mapping
from cliffwatch.data.manifest.schema import REQUIRED
from cliffwatch.data.tables import folder_files, format_of, parquet_columns, read_table

MANIFEST_FORMATS = ".jsonl, .jsonl.gz, .json, .parquet, .csv, .arrow"


def read_manifest(path: str | Path, mapping: Mapping | None = None, need_text: bool = False) -> pa.Table:
    """The validated manifest at ``path`` (a file or a Hugging Face dataset folder) as a table with
    ``MANIFEST_SCHEMA``. ``need_text``: keep the text column (near-duplicate detection needs it;
    otherwise it is not loaded, which keeps a large Parquet manifest cheap)."""
    path = Path(path)
    mapping = mapping or Mapping()
    raw = _read_raw(path, skip=() if need_text or mapping.preset or mapping.columns else ("text",))
    table = apply_mapping(raw, mapping, path)
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        text = " (or a text column to hash)" if missing == ["content_hash"] else ""
        raise DataError(f"{path}: missing required column(s): {', '.join(missing)}{text}; "
                        f"{suggest_mapping(raw.column_names, path)}")
    if not need_text and "text" in table.column_names and "content_hash" in table.column_names:
        table = table.drop_columns(["text"])
    return validate(table, str(path))


def _read_raw(path: Path, skip: tuple[str, ...] = ()) -> pa.Table:
    """The file's or folder's table as written (tables.py reads it, with the corpora's rules)."""
    if not os.path.lexists(path):
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        folder = folder_files(path)
        parts = [_read_file(file, skip) for file in folder.files]
        try:
            return pa.concat_tables(parts, promote_options="default")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise DataError(f"{path}: its data files do not share one set of columns ({_first_line(err)})") from None
    return _read_file(path, skip)


def _read_file(path: Path, skip: tuple[str, ...]) -> pa.Table:
    if format_of(path) is None:
        raise DataError(f"{path}: unknown manifest format (expected {MANIFEST_FORMATS}, "
                        "a Hugging Face dataset folder or a folder of shards)")
    if format_of(path) == "parquet" and skip:
        names = parquet_columns(path)
        if "content_hash" in names:  # without it the text is hashed, so it is read
            return read_table(path, columns=[c for c in names if c not in skip])
    return read_table(path)
