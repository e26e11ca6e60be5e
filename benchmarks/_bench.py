"""Shared by the benchmark scripts. Import it first: it pins BLAS/OpenMP to one thread before numpy loads."""

import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"


def timed(fn, repeats: int = 1) -> tuple[object, list[float]]:
    """(result of the last call, seconds of every call)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, times


def best_of(repeats: int, fn) -> float:
    return min(timed(fn, repeats)[1])
