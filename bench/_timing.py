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


def interleaved_with_cpu(runs: dict[str, Callable[[], object]], repeats: int) -> tuple[dict[str, list[float]],
                                                                                     dict[str, list[float]]]:
    """`interleaved`'s wall seconds, and this process's CPU seconds (time.process_time: not other jobs' load) per call
    of each run, the warm-up call left out of both."""
    cpu: dict[str, list[float]] = {name: [] for name in runs}

    def timed(name: str, fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            started = time.process_time()
            fn()
            cpu[name].append(time.process_time() - started)
        return run
    wall = interleaved({name: timed(name, fn) for name, fn in runs.items()}, repeats)
    return wall, {name: seconds[1:] for name, seconds in cpu.items()}


def best_and_median(times: dict[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """The minimum (the run least disturbed by other processes, timeit's advice) and the median of each run."""
    return ({name: min(v) for name, v in times.items()}, {name: statistics.median(v) for name, v in times.items()})
