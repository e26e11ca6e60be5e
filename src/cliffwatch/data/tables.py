"""Data files and folders, read with one set of rules by every caller (corpora and manifests).

Files: Parquet (.parquet, .pq), JSON Lines (.jsonl, .ndjson, and .json holding lines), a JSON array
of objects (.json), CSV, Arrow IPC (.arrow); JSON Lines, JSON and CSV also gzipped (.gz).
Folders: a Hugging Face ``save_to_disk`` folder (state.json lists its Arrow files; of a
DatasetDict, dataset_dict.json lists its splits and the ``train`` split is read), or a folder of
Parquet or JSON Lines shards (what a hub download or datatrove writes), read in path order; where
shard names mark splits (train-00000-of-00002.parquet, data/test/...), the ``train`` shards.

Only regular files are read (core.files.require_regular): a FIFO blocks, a device never ends.
Limits, each refused with a reason naming the file: metadata files of at most
``MAX_METADATA_BYTES``; JSON rows (lines) of at most ``MAX_ROW_BYTES``, nested at most
``MAX_NESTING`` levels, in valid UTF-8; a JSON array read whole of at most ``MAX_WHOLE_JSON_BYTES``;
at most ``MAX_SHARDS`` files in a folder; a gzipped file that decompresses to more than
``MAX_GZIP_RATIO`` times its size (past ``MAX_GZIP_FLOOR``). Other sizes are read in blocks.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from cliffwatch.core.errors import DataError, _first_line
from cliffwatch.core.files import require_regular

MAX_METADATA_BYTES = 1 << 20  # state.json, dataset_dict.json, a dataset card: written by tools, small
MAX_ROW_BYTES = 64 << 20  # one JSON line
MAX_NESTING = 100  # levels of {} and [] in one JSON value; pyarrow's parser crashes (exit 139) at some 10,000
MAX_WHOLE_JSON_BYTES = 256 << 20  # a JSON array is parsed whole, in memory
MAX_SHARDS = 10_000
# a gzipped file may decompress to at most this many times its size (text and JSON reach some 10x;
# a gzip bomb some 1000x), once past MAX_GZIP_FLOOR bytes
MAX_GZIP_RATIO, MAX_GZIP_FLOOR = 200, 1 << 30
# file name endings -> format
FORMATS = {
    ".parquet": "parquet", ".pq": "parquet", ".arrow": "arrow",
    ".jsonl": "json", ".ndjson": "json", ".json": "json", ".jsonl.gz": "json", ".ndjson.gz": "json", ".json.gz": "json",
    ".csv": "csv", ".csv.gz": "csv",
}
SHARD_FORMATS = ("parquet", "json")  # what a folder of shards may hold
SPLITS = ("train", "validation", "valid", "dev", "test")
_SPLIT_MARK = re.compile(rf"({'|'.join(SPLITS)})(?:$|[-_.])")
_BLOCK = 16 << 20  # bytes scanned at a time
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string literal, escapes included
BOM = b"\xef\xbb\xbf"


def suffix_of(path: Path) -> str:
    """The format-bearing ending, lowercased: ``.jsonl.gz`` for a gzipped file, else the suffix."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    return "".join(suffixes) if len(suffixes) == 2 and suffixes[1] == ".gz" else path.suffix.lower()


def format_of(path: Path) -> str | None:
    return FORMATS.get(suffix_of(path))


# ---- files ----------------------------------------------------------------------------------------


def read_table(path: Path, columns: list[str] | None = None) -> pa.Table:
    """The table in a data file (see the module's docstring for formats and limits). ``columns``:
    read only these where the format allows (Parquet, Arrow). CSV cells are read as strings (an
    empty cell is null; "N/A", "NA", "null" stay strings): types come from the caller's schema."""
    require_regular(path, "a data file")
    kind = format_of(path)
    if kind is None:
        raise DataError(f"{path}: unknown data format {suffix_of(path)!r} (expected {', '.join(sorted(FORMATS))})")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            table = pq.read_table(path, columns=[c for c in names if columns is None or c in columns])
        elif kind == "arrow":
            table = read_arrow(path)
            table = table.select([c for c in table.column_names if c in columns]) if columns is not None else table
        else:
            table = _read_json(path) if kind == "json" else _read_csv(path)
        # a damaged file, or a reader's own slip (pyarrow 26's JSON reader builds invalid lists of
        # nulls), must not travel on to fail later with no file named
        table.validate()
        return table
    except (pa.ArrowException, OSError, EOFError, zlib.error, TypeError, ValueError) as err:
        raise DataError(f"{path}: unreadable {kind} file ({_first_line(err)})") from None


def parquet_columns(path: Path) -> list[str]:
    """The column names of a Parquet file, from its footer."""
    import pyarrow.parquet as pq

    require_regular(path, "a Parquet file")
    try:
        return pq.read_schema(path).names
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: unreadable ({_first_line(err)})") from None


def read_arrow(file: Path) -> pa.Table:
    """An Arrow table from an IPC stream (what datasets writes) or an IPC file."""
    import pyarrow.ipc

    require_regular(file, "an Arrow file")
    try:
        with pa.memory_map(str(file)) as source:
            return pyarrow.ipc.open_stream(source).read_all()
    except pa.ArrowInvalid:
        try:
            with pa.memory_map(str(file)) as source:
                return pyarrow.ipc.open_file(source).read_all()
        except pa.ArrowException as error:
            raise DataError(f"{file}: not an Arrow file ({_first_line(error)})") from None
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{file}: unreadable Arrow file ({_first_line(error)})") from None


def _read_json(path: Path) -> pa.Table:
    """JSON Lines (checked line by line, then parsed by pyarrow in blocks that hold the longest
    line), or a JSON array of objects (read whole)."""
    import pyarrow.json as pj

    if is_json_array(path):
        records = json_array(path)
        keys = list(dict.fromkeys(key for record in records for key in record))  # every record's keys, in order
        return pa.Table.from_pylist([{key: record.get(key) for key in keys} for record in records])
    longest = check_json_lines(_blocks(path), str(path))
    options = pj.ReadOptions(block_size=max(1 << 20, longest + 2))
    return pj.read_json(path, read_options=options)


def json_array(path: Path) -> list[dict]:
    """The objects of a file holding one JSON array, read whole (at most MAX_WHOLE_JSON_BYTES)."""
    data = file_bytes(path, MAX_WHOLE_JSON_BYTES)
    data = data[len(BOM):] if data.startswith(BOM) else data
    text = _utf8(data, str(path))
    depth, line = json_depth(data)
    if depth > MAX_NESTING:
        raise DataError(f"{path}:{line}: JSON nested {depth} levels deep (at most {MAX_NESTING})")
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
    except (ValueError, RecursionError) as error:
        raise DataError(f"{path}: unreadable JSON ({error.__class__.__name__})") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"{path}: a JSON file holds one object per line, or one array of objects")
    return records


def _read_csv(path: Path) -> pa.Table:
    """A CSV file, every column as strings; its lines checked first (UTF-8, length: naming the
    line), then read by pyarrow in blocks."""
    import pyarrow.csv as pcsv

    longest = check_json_lines(_blocks(path), str(path), json=False)
    fast = (pcsv.ReadOptions(block_size=max(1 << 20, longest + 2)), pcsv.ParseOptions())  # blocks hold the longest line
    # quoted cells spanning lines: parsed in order, blocks hold a row of up to MAX_ROW_BYTES
    spanning = (pcsv.ReadOptions(block_size=MAX_ROW_BYTES), pcsv.ParseOptions(newlines_in_values=True))
    for read, parse in (fast, spanning):
        try:
            names = pcsv.open_csv(path, read_options=read, parse_options=parse).schema.names  # the header
            options = pcsv.ConvertOptions(column_types={name: pa.string() for name in names}, null_values=[""],
                                          strings_can_be_null=True, quoted_strings_can_be_null=False)
            return pcsv.read_csv(path, read_options=read, parse_options=parse, convert_options=options)
        except pa.ArrowInvalid:
            if parse.newlines_in_values:
                raise


def is_json_array(path: Path) -> bool:
    """Whether a .json file (not .jsonl) holds one JSON array: its first non-blank byte is "["."""
    if suffix_of(path) not in (".json", ".json.gz"):
        return False
    for block in _blocks(path):
        stripped = block.lstrip(BOM).lstrip()
        if stripped:
            return stripped.startswith(b"[")
    return False


def file_bytes(path: Path, limit: int) -> bytes:
    """The whole file (decompressed if .gz), at most ``limit`` bytes (more is refused)."""
    return b"".join(_blocks(path, limit))


def _blocks(path: Path, limit: int | None = None) -> Iterator[bytes]:
    """The file's bytes (decompressed for .gz), block by block; more than ``limit`` is refused."""
    size = require_regular(path, "a data file").stat().st_size
    gzipped = path.suffix.lower() == ".gz"
    bomb = max(MAX_GZIP_RATIO * size, MAX_GZIP_FLOOR) if gzipped else None
    total = 0
    try:
        with (gzip.open if gzipped else open)(path, "rb") as file:
            while block := file.read(_BLOCK):
                total += len(block)
                if limit is not None and total > limit:
                    raise DataError(f"{path}: more than {limit:,} bytes{' decompressed' if gzipped else ''}, "
                                    "too large to read whole (JSON Lines or Parquet are read in blocks)")
                if bomb is not None and total > bomb:
                    raise DataError(f"{path}: decompresses to more than {MAX_GZIP_RATIO} times its size "
                                    f"(over {total:,} bytes so far): refused as a likely gzip bomb")
                yield block
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: unreadable ({_first_line(err)})") from None


def check_json_lines(blocks: Iterator[bytes], where: str, json: bool = True) -> int:
    """Check JSON Lines data, given block by block: valid UTF-8, no line longer than MAX_ROW_BYTES,
    no value nested deeper than MAX_NESTING (not checked for other text: ``json`` False). Returns
    the longest line's length. Columnar: lines are found with numpy, and only lines holding more
    than MAX_NESTING brackets are parsed for depth."""
    carry, line, longest = b"", 1, 0
    for block in blocks:
        data = carry + block
        end = data.rfind(b"\n") + 1
        if not end:  # no line ends in this block yet
            if len(data) > MAX_ROW_BYTES:
                raise DataError(f"{where}:{line}: a line longer than {MAX_ROW_BYTES:,} bytes")
            carry = data
            continue
        carry = data[end:]
        longest = max(longest, _check_lines(data[:end], line, where, json))
        line += data.count(b"\n", 0, end)
    if carry:
        longest = max(longest, _check_lines(carry, line, where, json))
    return longest


def _check_lines(data: bytes, first: int, where: str, json: bool) -> int:
    if first == 1 and data.startswith(BOM):
        data = data[len(BOM):]
    _utf8(data, where, first)
    bytes_ = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(bytes_ == 10)
    starts = np.r_[0, ends + 1]
    lengths = np.r_[ends, len(bytes_)] - starts
    worst = int(np.argmax(lengths))
    if lengths[worst] > MAX_ROW_BYTES:
        raise DataError(f"{where}:{first + worst}: a line of {int(lengths[worst]):,} bytes (at most {MAX_ROW_BYTES:,})")
    openers = np.flatnonzero((bytes_ == 123) | (bytes_ == 91)) if json else ()  # { and [
    if len(openers) > MAX_NESTING:
        per_line = np.bincount(np.searchsorted(ends, openers), minlength=len(starts))
        for i in np.flatnonzero(per_line > MAX_NESTING):
            depth, _ = json_depth(data[starts[i]: starts[i] + lengths[i]])
            if depth > MAX_NESTING:
                raise DataError(f"{where}:{first + i}: a JSON value nested {depth} levels deep (at most {MAX_NESTING})")
    return int(lengths[worst])


def json_depth(data: bytes) -> tuple[int, int]:
    """(deepest nesting of {} and [] in JSON text, the 1-based line where it is reached); brackets
    inside strings do not count."""
    plain = _JSON_STRING.sub(lambda m: b'""' + b"\n" * m.group().count(b"\n"), data)
    bytes_ = np.frombuffer(plain, np.uint8)
    opens = (bytes_ == 123) | (bytes_ == 91)
    at = np.flatnonzero(opens | (bytes_ == 125) | (bytes_ == 93))
    if not len(at):
        return 0, 1
    depth = np.cumsum(np.where(opens[at], 1, -1))
    deepest = int(np.argmax(depth))
    return int(depth[deepest]), plain.count(b"\n", 0, int(at[deepest])) + 1


def _utf8(data: bytes, where: str, first: int = 1) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first + data.count(b"\n", 0, error.start)
        raise DataError(f"{where}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x})") from None


# ---- folders --------------------------------------------------------------------------------------


@dataclass
class Folder:
    """The data files of a folder, in reading order, and what the folder was."""

    files: list[Path]
    kind: str  # "hf-dataset" or "shards"
    info: dict = field(default_factory=dict)  # split, shard_format


def folder_files(path: Path) -> Folder:
    """The data files of a Hugging Face ``save_to_disk`` folder or a folder of shards (see the
    module's docstring); DataError naming the file for anything damaged or outside the folder."""
    if any(os.path.lexists(path / name) for name in ("dataset_dict.json", "state.json", "dataset_info.json")):
        return _dataset_folder(path)
    return _shard_folder(path)


def _dataset_folder(path: Path) -> Folder:
    info = {}
    if os.path.lexists(path / "dataset_dict.json"):  # a DatasetDict: one folder per split
        splits = json_field(path / "dataset_dict.json", "splits", list)
        if not all(isinstance(s, str) for s in splits):
            raise DataError(f"{path / 'dataset_dict.json'}: 'splits' must list split names")
        if "train" not in splits:
            raise DataError(f"{path}: a dataset with splits {str(splits)[:100]} but no 'train'; pass a split's folder")
        info["split"] = "train"
        path = path / "train"
        if not path.is_dir():
            raise DataError(f"{path}: no such folder (the 'train' split listed in dataset_dict.json)")
        if os.path.lexists(path / "dataset_dict.json"):
            raise DataError(f"{path}: a DatasetDict inside a DatasetDict's split (dataset_dict.json again)")
    state = path / "state.json"
    if os.path.lexists(state):
        entries = json_field(state, "_data_files", list)
        if not all(isinstance(f, dict) and isinstance(f.get("filename"), str) for f in entries):
            raise DataError(f"{state}: _data_files must list {{filename: NAME}} entries")
        files = [path / plain_name(f["filename"], state) for f in entries]
    else:
        json_field(path / "dataset_info.json", "features", dict)  # checked, so damage is named
        files = sorted(path.glob("*.arrow"))
    if not files:
        raise DataError(f"{path}: a Hugging Face dataset folder without data files (no .arrow files listed or found)")
    if len(files) > MAX_SHARDS:
        raise DataError(f"{path}: {len(files):,} data files (at most {MAX_SHARDS:,})")
    for file in files:
        require_regular(file, "an Arrow file of the dataset")
    return Folder(files, "hf-dataset", info)


def plain_name(name: str, where: Path) -> str:
    """A file name listed in dataset metadata, checked to name a file directly inside its folder."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0") or os.path.isabs(name):
        raise DataError(f"{where}: data file {name[:100]!r} is not a plain file name inside the folder")
    return name


def _shard_folder(path: Path) -> Folder:
    shards = []
    for root, dirs, files in os.walk(path, onerror=_walk_error):  # symlinked folders are not entered
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .git, .cache of a hub download
        for name in sorted(files):
            if not name.startswith(".") and format_of(Path(name)) in SHARD_FORMATS:
                shards.append(Path(root) / name)
                if len(shards) > MAX_SHARDS:
                    raise DataError(f"{path}: more than {MAX_SHARDS:,} data files")
    if not shards:
        raise DataError(f"{path}: a folder, but not a Hugging Face dataset (state.json, dataset_dict.json) "
                        "nor a folder of .parquet or .jsonl shards")
    kinds = sorted({format_of(s) for s in shards})
    if len(kinds) > 1:
        raise DataError(f"{path}: a folder of mixed shards ({' and '.join(kinds)}); keep one format per folder")
    info = {"shard_format": kinds[0]}
    marked = {s: _split_of(s.relative_to(path)) for s in shards}
    if any(marked.values()):
        splits = sorted({m for m in marked.values() if m})
        if "train" not in splits:
            raise DataError(f"{path}: shards of splits {', '.join(splits)} but none of 'train'; pass a split's folder")
        shards = [s for s in shards if marked[s] == "train"]
        info["split"] = "train"
    for shard in shards:
        require_regular(shard, "a data shard")
    return Folder(shards, "shards", info)


def _split_of(relative: Path) -> str | None:
    """The split a shard's path marks (a folder or file name starting with train, test, ...)."""
    for part in relative.parts:
        match = _SPLIT_MARK.match(part.lower())
        if match:
            return "validation" if match.group(1) in ("valid", "dev") else match.group(1)
    return None


def _walk_error(error: OSError) -> None:
    raise DataError(f"{error.filename}: unreadable folder ({error.strerror or error.__class__.__name__})")


def json_field(path: Path, key: str, kind: type):
    """``key`` of the JSON object in ``path`` (empty if absent), checked to be a ``kind``."""
    require_regular(path, "dataset metadata (JSON)")
    if path.stat().st_size > MAX_METADATA_BYTES:
        raise DataError(f"{path}: {path.stat().st_size:,} bytes of metadata (at most {MAX_METADATA_BYTES:,})")
    data = path.read_bytes()
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{data[error.start]:02x})") from None
    except (ValueError, RecursionError):
        raise DataError(f"{path}: not a JSON object of dataset metadata") from None
    if not isinstance(value, dict):
        raise DataError(f"{path}: not a JSON object of dataset metadata")
    value = value.get(key, kind())
    if not isinstance(value, kind):
        raise DataError(f"{path}: {key!r} must be a {kind.__name__}")
    return value
