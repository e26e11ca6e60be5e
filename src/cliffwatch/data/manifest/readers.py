"""Reading a manifest file or folder into a validated table."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from cliffwatch.core.errors import DataError
from cliffwatch.data.manifest.checks import validate
from cliffwatch.data.manifest.presets import Mapping, apply_mapping
from cliffwatch.core.errors import _first_line


def read_manifest(path: str | Path, mapping: Mapping | None = None, need_text: bool = False) -> pa.Table:
    """The validated manifest at ``path`` (a file or a Hugging Face dataset folder) as a table with
    ``MANIFEST_SCHEMA``. ``need_text``: keep the text column (near-duplicate detection needs it;
    otherwise it is not loaded, which keeps a large Parquet manifest cheap)."""
    path = Path(path)
    mapping = mapping or Mapping()
    raw = _read_raw(path, skip=() if need_text or mapping.preset or mapping.columns else ("text",))
    table = apply_mapping(raw, mapping, path)
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

