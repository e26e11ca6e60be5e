"""Hugging Face ``save_to_disk`` folders and Arrow files, read with pyarrow alone (the ``datasets``
package is not needed)."""

from __future__ import annotations

import json
from pathlib import Path

from cliffwatch.core.errors import DataError
from cliffwatch.core.errors import _first_line
from cliffwatch.data.textfiles import read_text


def dataset_folder_files(path: Path, provenance: dict) -> list[Path]:
    """The Arrow files of a Hugging Face ``save_to_disk`` folder (of a DatasetDict: its ``train`` split)."""
    if (path / "dataset_dict.json").is_file():  # a DatasetDict: one folder per split
        splits = json_field(path / "dataset_dict.json", "splits", list)
        if "train" not in splits:
            raise DataError(f"{path}: a dataset with splits {str(splits)[:100]} but no 'train'; pass a split's folder")
        provenance["split"] = "train"
        path = path / "train"
    state = path / "state.json"
    if state.is_file():
        entries = json_field(state, "_data_files", list)
        if not all(isinstance(f, dict) and isinstance(f.get("filename"), str) and "/" not in f["filename"]
                   for f in entries):
            raise DataError(f"{state}: _data_files must list {{filename: NAME}} entries of this folder")
        files = [path / f["filename"] for f in entries]
    else:
        files = sorted(path.glob("*.arrow")) if (path / "dataset_info.json").is_file() else []
    if not files:
        raise DataError(f"{path}: a folder, but not a Hugging Face dataset (no state.json or dataset_info.json "
                        "with .arrow files)")
    return files


def json_field(path: Path, key: str, kind: type):
    """``key`` of the JSON object in ``path`` (empty if absent), checked to be a ``kind``."""
    try:
        value = json.loads(read_text(path)).get(key, kind())
    except (ValueError, RecursionError, AttributeError):
        raise DataError(f"{path}: not a JSON object of dataset metadata") from None
    if not isinstance(value, kind):
        raise DataError(f"{path}: {key!r} must be a {kind.__name__}")
    return value


def read_arrow(file: Path):
    """An Arrow table from an IPC stream (what datasets writes) or an IPC file."""
    import pyarrow as pa
    import pyarrow.ipc

    if not file.is_file():
        raise DataError(f"{file}: no such file (listed in state.json)")
    try:
        with pa.memory_map(str(file)) as source:
            return pyarrow.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        try:
            with pa.memory_map(str(file)) as source:
                return pyarrow.ipc.open_file(source).read_all()
        except pa.ArrowException as error:
            raise DataError(f"{file}: not an Arrow file ({_first_line(error)})") from None

