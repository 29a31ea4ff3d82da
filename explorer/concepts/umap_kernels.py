"""umap-learn's numba kernels compiled once per machine, not once per process.

umap-learn 0.5.12 declares ~110 kernels with `numba.njit` but asks numba to cache only one of them on disk
(pynndescent, which it imports, caches all of its own). So every new process (each app start, each CLI map)
compiles them again on its first fit: ~25 s of CPU on this 2-core machine. numba can cache any kernel whose
code it can key (source file and its modification time, the argument types, the CPU); `enable_caching()` is
how numba's own `@njit(cache=True)` turns the cache on for a dispatcher (numba/core/decorators.py), so calling
it on umap's dispatchers is what `cache=True` in umap would do. Measured here: a fresh process's first fit of 60
points, 24.8 s of CPU before, 0.2 s once one process has compiled and cached the kernels. The cache lives where
numba puts it (a `__pycache__` beside umap's source, else numba's user-wide folder or $NUMBA_CACHE_DIR); numba
rebuilds an entry whose source changed, so upgrading umap is safe.

Private-internal note (STYLE 18): `Dispatcher.enable_caching` and the dispatcher's `_cache` are numba's, not a
documented API; tests/concepts/test_umap_kernels.py fails if they change. The public replacement is umap-learn
declaring `cache=True` itself.
"""
from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


def cache_umap_kernels() -> int:
    """Turn on numba's disk cache for every umap kernel not caching yet; how many were turned on (0 on a second
    call: no state kept, the dispatchers say it). Call after `import umap`, before the first fit. Never raises:
    without it a fit only compiles. Two threads at once both set a cache on the same kernel: harmless."""
    count = 0
    try:
        from numba.core.registry import CPUDispatcher

        for name, module in list(sys.modules.items()):
            if module is None or not (name == "umap" or name.startswith("umap.")):
                continue
            for value in list(vars(module).values()):
                if isinstance(value, CPUDispatcher) and not _caches(value):
                    value.enable_caching()
                    count += 1
    except Exception as error:  # noqa: BLE001 - numba changed: umap compiles as it did before
        log.warning("numba's disk cache for umap's kernels is off: %s", error)
    return count


def _caches(dispatcher) -> bool:
    """Whether numba already keeps this kernel on disk (umap's own `cache=True` ones)."""
    return type(dispatcher._cache).__name__ != "NullCache"
