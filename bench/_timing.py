"""Interleaved timing for the benchmarks: every run once per round, so machine noise hits all alike."""
from __future__ import annotations

import statistics
import time
from typing import Callable


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each run, after one warm-up call each (first calls allocate and build kernels)."""
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def best_and_median(times: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """The minimum (the run least disturbed by other processes, timeit's advice) and the median of each run."""
    return ({name: min(v) for name, v in times.items()}, {name: statistics.median(v) for name, v in times.items()})
