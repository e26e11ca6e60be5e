"""Reading the texts of user files: .txt, .jsonl, .parquet, .csv, and Arrow tables' text columns."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Iterator

from cliffwatch.core.errors import DataError, _first_line


def read_text(path: Path) -> str:
    """The file as UTF-8 text with LF line ends, or a DataError that points at the first bad byte.
    Only a regular file is read: a FIFO or a device could block or never end."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{path}: not a regular file (a FIFO, device or folder)")
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: unreadable ({err.strerror or err.__class__.__name__})") from None
    nul = data.find(b"\0")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, bad = data.count(b"\n", 0, error.start) + 1, data[error.start]
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{bad:02x} at offset {error.start})") from None
    if nul >= 0:
        raise DataError(f"{path}: a binary file, not text (NUL byte at offset {nul})")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # a CRLF copy splits like the original


def jsonl_texts(path: Path, field: str) -> Iterator[str]:
    # Split on "\n" only: JSON strings may hold raw U+2028, which str.splitlines would break at.
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})") from None
        except (ValueError, RecursionError) as error:  # nested too deep, an integer of thousands of digits
            raise DataError(f"{path}:{number}: unreadable JSON ({error.__class__.__name__})") from None
        if not isinstance(record, dict) or field not in record:
            raise DataError(f"{path}:{number}: no {field!r} field")
        text = record[field]
        if text is None:
            continue  # a missing value, as in a table's null
        if not isinstance(text, str):
            raise DataError(f"{path}:{number}: {field!r} is a {type(text).__name__}, not text")
        yield text


def table_texts(path: Path, field: str) -> list[str]:
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet

    try:
        if path.suffix.lower() == ".csv":
            data = read_text(path).encode()  # checks UTF-8 first, for a precise message
            options = pyarrow.csv.ConvertOptions(column_types={field: pa.large_string()})
            table = pyarrow.csv.read_csv(pa.BufferReader(data), convert_options=options)
        else:
            table = pyarrow.parquet.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: unreadable {path.suffix[1:]} file ({_first_line(error)})") from None
    return column_texts(table, field, str(path))



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



