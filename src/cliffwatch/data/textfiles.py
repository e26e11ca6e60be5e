"""The texts of a user's corpus files: .txt (running text), JSON Lines and JSON (text in a field),
tables (text in a column); every format tables.py reads, gzipped ones too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from cliffwatch.core.errors import DataError
from cliffwatch.data.tables import check_json_lines, file_bytes, format_of, is_json_array, json_array, read_table

MAX_TEXT_BYTES = 1 << 30  # a text or JSON Lines corpus is read whole, into memory


def read_text(path: Path) -> str:
    """The file (decompressed if .gz) as UTF-8 text with LF line ends, or a DataError that points at
    the first bad byte. Only a regular file is read: a FIFO or a device could block or never end."""
    return _decode(file_bytes(path, MAX_TEXT_BYTES), path)


def _decode(data: bytes, path: Path) -> str:
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, bad = data.count(b"\n", 0, error.start) + 1, data[error.start]
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{bad:02x} at offset {error.start})") from None
    if nul >= 0:
        raise DataError(f"{path}: a binary file, not text (NUL byte at offset {nul})")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # a CRLF copy splits like the original


def file_texts(path: Path, field: str) -> Iterator[str] | list[str]:
    """The texts of one corpus file, by its format."""
    kind = format_of(path)
    if path.suffix.lower() == ".txt":
        return [read_text(path)]
    if kind == "json":
        if is_json_array(path):
            return _record_texts(((i, r) for i, r in enumerate(json_array(path), start=1)), path, field, "record")
        return jsonl_texts(file_bytes(path, MAX_TEXT_BYTES), path, field)
    if kind is not None:
        return column_texts(read_table(path), field, str(path))
    raise DataError(f"{path}: unsupported file type {path.suffix!r}")


def jsonl_texts(data: bytes, path: Path, field: str) -> Iterator[str]:
    """The ``field`` of each line of JSON Lines ``data``; lines are checked first (UTF-8, length,
    nesting: tables.check_json_lines)."""
    check_json_lines(iter([data]), str(path))
    return _record_texts(_records(_decode(data, path), path), path, field, "line")


def _records(text: str, path: Path) -> Iterator[tuple[int, object]]:
    # Split on "\n" only: JSON strings may hold raw U+2028, which str.splitlines would break at.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})") from None
        except (ValueError, RecursionError) as error:  # an integer of thousands of digits
            raise DataError(f"{path}:{number}: unreadable JSON ({error.__class__.__name__})") from None


def _record_texts(records: Iterator[tuple[int, object]], path: Path, field: str, unit: str) -> Iterator[str]:
    for number, record in records:
        where = f"{path}:{number}" if unit == "line" else f"{path}: record {number}"
        if not isinstance(record, dict) or field not in record:
            raise DataError(f"{where}: no {field!r} field")
        text = record[field]
        if text is None:
            continue  # a missing value, as in a table's null
        if not isinstance(text, str):
            raise DataError(f"{where}: {field!r} is a {type(text).__name__}, not text")
        yield text


def column_texts(table, field: str, where: str) -> list[str]:
    """The non-null strings of column ``field``."""
    import pyarrow as pa

    if field not in table.column_names:
        raise DataError(f"{where}: no column {field!r} (columns: {', '.join(table.column_names)[:200]})")
    if table.column_names.count(field) > 1:
        raise DataError(f"{where}: {table.column_names.count(field)} columns are named {field!r}")
    column = table.column(field)
    value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        raise DataError(f"{where}: column {field!r} holds {column.type}, not text")
    return [text for text in column.cast(pa.large_string()).to_pylist() if text is not None]
