"""Every random draw comes from a SeedSequence derived from (seed, lineage, generation, purpose).

Streams never depend on the order in which work runs, so a lineage gives bit-identical
results run straight through, resumed after a crash, or run in another worker process.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

import numpy as np


def stable_hash(obj: Any) -> int:
    """A 63-bit hash of a JSON-serialisable object that is stable across processes and runs."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "little") >> 1


@functools.lru_cache(maxsize=4096)  # a handful of purposes, drawn every generation: hash each once
def _key_part(part: int | str) -> int:
    return part if isinstance(part, int) else stable_hash(part)


def rng(seed: int, lineage: int | str, generation: int, purpose: str) -> np.random.Generator:
    """The generator for one (seed, lineage, generation, purpose) draw."""
    key = (_key_part(lineage), int(generation), _key_part(purpose))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))
