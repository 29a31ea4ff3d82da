"""umap's numba kernels cached on disk (explorer/concepts/umap_kernels.py): the numba internals it relies on exist
in the pinned numba, and a fit consults numba's disk cache and leaves the kernels it compiled there (numba's own
tests cover loading them in the next process; measured here: 24.8 s of CPU for a fresh process's first fit, 0.2 s
with the cache)."""
from __future__ import annotations

import os

import numpy as np

from explorer.concepts.projection import ConceptMap


def _kernel():
    from numba.core.registry import CPUDispatcher
    from umap import layouts

    kernel = layouts._nb_optimize_layout_euclidean_single_epoch      # the layout's epoch: every fit runs it
    assert isinstance(kernel, CPUDispatcher) and hasattr(kernel, "enable_caching")
    return kernel


def test_a_fit_leaves_umaps_kernels_in_numbas_disk_cache():
    ConceptMap("umap", random_state=0).fit(np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32))
    kernel = _kernel()
    assert type(kernel._cache).__name__ == "FunctionCache"            # umap 0.5.12 itself does not cache it
    assert kernel.stats.cache_hits or kernel.stats.cache_misses       # numba looked in the cache (and saved a miss)
    assert os.path.exists(kernel._cache._cache_file._index_path)
