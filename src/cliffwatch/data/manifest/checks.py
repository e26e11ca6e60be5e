"""Validating a manifest: required columns and values, types, sources, depths, and the id graph
(duplicate ids, dangling parents, parent cycles). Columnar throughout: millions of rows in seconds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cliffwatch.core.errors import DataError
from cliffwatch.data.manifest.schema import MANIFEST_SCHEMA, REQUIRED, SOURCES

# manifests from this many rows key their strings by DuckDB hashes; smaller ones by Arrow's
# dictionary codes (quicker than a round trip to DuckDB at that size)
HASHED_FROM = 100_000


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

