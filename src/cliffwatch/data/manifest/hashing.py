"""Content hashes: of training items as the loop holds them, of numeric rows, and of texts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cliffwatch.core.errors import ConfigError

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

