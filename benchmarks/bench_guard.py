"""Guard performance: audit of a 10-million-row Parquet manifest with exact dedup (time, peak RSS),
near-duplicate detection over 1 million text rows; each beside a peer measured in the same run.

    python benchmarks/bench_guard.py [--rows 10000000] [--texts 1000000]

Targets (issue 11): audit < 15 s with peak memory < 4 GB on 2 cores; near duplicates of 1M rows < 2 min.
The audit runs in a fresh subprocess so its peak RSS is its own; Arrow uses 2 threads.
"""

import _bench  # noqa: F401  (pins BLAS threads first)

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cliffwatch.data.manifest.hashing import hex_digests

AUDIT_CHILD = """
import json, resource, sys, time
import pyarrow as pa
pa.set_cpu_count(2); pa.set_io_thread_count(2)
from cliffwatch.data.manifest import read_manifest
from cliffwatch.guard.audit import audit
from cliffwatch.guard.policy import Policy
start, cpu = time.perf_counter(), time.process_time()
result = audit(read_manifest(sys.argv[1]), Policy(min_human_fraction=0.3, max_depth=5, min_generator_families=2, max_family_share=0.8, min_verified_share=0.1, dedup="exact"))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "cpu": time.process_time() - cpu, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "items": result.items, "effective": result.effective_human_fraction, "passed": result.passed}))
"""

PANDAS_CHILD = """
import json, resource, sys, time
import pandas as pd
start, cpu = time.perf_counter(), time.process_time()
frame = pd.read_parquet(sys.argv[1], columns=["id", "source", "content_hash"])
distinct = frame.drop_duplicates("content_hash")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "cpu": time.process_time() - cpu, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "items": len(distinct)}))
"""


def make_manifest(path: Path, rows: int, seed: int = 0) -> None:
    """A realistic mix: 40% human (depth 0), 60% synthetic from 3 families at depths 1-4, with one
    synthetic row in ten an exact copy of a human row, and parents pointing at human rows."""
    rng = np.random.default_rng(seed)
    human = rng.random(rows) < 0.4
    ids = hex_digests(np.arange(rows, dtype=np.uint64))
    content = rng.integers(0, 2**63, rows, dtype=np.int64).astype(np.uint64)
    human_rows = np.flatnonzero(human)
    copies = ~human & (rng.random(rows) < 0.1)
    content[copies] = content[rng.choice(human_rows, copies.sum())]
    parent = np.where(human, -1, rng.choice(human_rows, rows))
    families = np.array(["ngram", "gmm", "kde"])
    family = families[rng.integers(0, 3, rows)]
    table = pa.table({
        "id": ids,
        "source": pa.array(np.where(human, "human", "synthetic")),
        "generator": pa.array(np.char.add(family, "-v1")).dictionary_encode(),
        "family": pa.array(family).dictionary_encode(),
        "generation": pa.array(np.where(human, 0, rng.integers(1, 5, rows))),
        "parent_id": pc.if_else(pa.array(parent >= 0), pc.take(ids, pa.array(np.maximum(parent, 0))), pa.scalar(None, pa.string())),
        "verified": pa.array(rng.random(rows) < 0.5),
        "content_hash": hex_digests(content),
    })
    pq.write_table(table, path, row_group_size=1_000_000)


def child(code: str, path: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_texts(n: int, seed: int = 1) -> pa.Array:
    """n sentences of 8-30 Zipf-distributed words from a 50,000-word vocabulary; one in ten is a
    near copy (one word changed) of an earlier sentence."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 31, n)
    words = np.minimum(rng.zipf(1.3, lengths.sum()), 50_000) - 1
    starts = np.r_[0, np.cumsum(lengths)[:-1]]  # where each sentence's own words start
    origin = np.arange(n)
    copy = np.flatnonzero(rng.random(n) < 0.1)
    copy = copy[copy > 0]
    origin[copy] = (rng.random(len(copy)) * copy).astype(np.int64)  # an earlier sentence
    while (origin[origin] != origin).any():  # a copy of a copy copies the first sentence
        origin = origin[origin]
    lengths = lengths[origin]
    offsets = np.r_[0, np.cumsum(lengths)]
    owner = np.repeat(np.arange(n), lengths)
    new_words = words[starts[origin[owner]] + np.arange(offsets[-1]) - offsets[owner]]
    new_words[offsets[copy] + rng.integers(0, lengths[copy])] = rng.integers(0, 50_000, len(copy))
    vocab = pa.array(np.char.add("w", np.arange(50_000).astype(str)))
    sentences = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pc.take(vocab, pa.array(new_words)))
    return pc.binary_join(sentences, " ")


def near_dup(texts: pa.Array) -> tuple[float, int]:
    from cliffwatch.filters.dedup import similar_pairs
    from cliffwatch.guard.audit import connected_components, sentences_from_text

    start = time.perf_counter()
    i, j = similar_pairs(sentences_from_text(texts), 0.8)
    labels = connected_components(len(texts), i, j)
    return time.perf_counter() - start, len(texts) - len(np.unique(labels))


def datasketch_rate(texts: pa.Array, n: int) -> float:
    """Rows per second of datasketch's MinHash + MinHashLSH (insert and query) on the first n rows."""
    from datasketch import MinHash, MinHashLSH

    rows = texts.slice(0, n).to_pylist()
    start = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=64)
    for k, text in enumerate(rows):
        words = text.split()
        m = MinHash(num_perm=64)
        m.update_batch([f"{a} {b}".encode() for a, b in zip(words, words[1:])])
        lsh.query(m)
        lsh.insert(k, m)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--texts", type=int, default=1_000_000)
    parser.add_argument("--peer-texts", type=int, default=20_000)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.parquet"
        make_manifest(path, args.rows)
        print(f"manifest: {args.rows:,} rows, {path.stat().st_size / 2**20:.0f} MiB Parquet")
        ours, peer = child(AUDIT_CHILD, path), child(PANDAS_CHILD, path)
    print(f"audit (read + validate ids/parents/cycles + exact dedup + 5 rules): {ours['seconds']:.1f} s wall, {ours['cpu']:.1f} s CPU, "
          f"peak RSS {ours['peak_rss_gb']:.2f} GB  [target < 15 s, < 4 GB]; {ours['items']:,} distinct items, "
          f"effective human fraction {ours['effective']:.3f}")
    print(f"peer, pandas read_parquet(3 columns) + drop_duplicates(content_hash) alone: {peer['seconds']:.1f} s wall, {peer['cpu']:.1f} s CPU, "
          f"peak RSS {peer['peak_rss_gb']:.2f} GB; {peer['items']:,} distinct")
    print(f"load after the audits: {os.getloadavg()[0]:.2f}")
    if not args.texts:
        return
    texts = make_texts(args.texts)
    seconds, removed = near_dup(texts)
    print(f"near duplicates of {args.texts:,} texts (MinHash LSH, 64 permutations, Jaccard >= 0.8 on word bigrams): "
          f"{seconds:.1f} s ({args.texts / seconds:,.0f} rows/s), {removed:,} near copies  [target < 120 s]")
    rate = datasketch_rate(texts, args.peer_texts)
    print(f"peer, datasketch MinHash + MinHashLSH on the first {args.peer_texts:,} texts: {rate:,.0f} rows/s "
          f"(about {args.texts / rate:.0f} s for {args.texts:,})")


if __name__ == "__main__":
    main()
