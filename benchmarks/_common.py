"""Helpers shared by the benchmarks (timing, synthetic inputs)."""

from __future__ import annotations

import time

import numpy as np

from farmkit.protocol.constants import SCALAR_SIZE

__all__ = ["best", "source_chunks"]


def best(fn, reps: int) -> float:
    """Best wall time of ``reps`` calls of ``fn`` (seconds)."""
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def source_chunks(rng, *shape) -> np.ndarray:
    """Random source chunks of ``shape`` (…, 32): a zero first byte, as archived source data has
    (31 safe bytes per scalar, kzg-erasure-archiving.md §2)."""
    a = np.zeros(shape + (SCALAR_SIZE,), np.uint8)
    a[..., 1:] = rng.integers(0, 256, shape + (SCALAR_SIZE - 1,), dtype=np.uint8)
    return a
