"""Shared by the benchmark scripts (run as ``python benchmarks/NAME.py``, so this folder is on
the import path)."""

from __future__ import annotations

import time


def best_of(fn, repeat):
    """The shortest of ``repeat`` timings of ``fn()`` and the last result."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out
