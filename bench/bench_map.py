"""Benchmark of the concept map on this machine; prints timings and their ratio to the goals of issue 5.

    HF_HUB_OFFLINE=1 python bench/bench_map.py [--model tiny-random]

Goals: the first map after the app is ready < 5 s (UMAP's numba JIT warms in the background meanwhile);
a warm map of 200 neighbours plus queries < 2 s; nearest neighbours in a 50,000-entry index < 20 ms;
a cached index loads in < 1 s. Also: dynamic padding vs 77-token padding when encoding a vocabulary.
Run it as a fresh process: the first-map timing includes whatever JIT is not yet compiled.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUERY = "a lighthouse at dawn\n= king - man + woman\na cat -> a dog"


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def row(name: str, seconds: float, goal: float | None = None) -> None:
    ratio = f"{seconds / goal:6.2f} x goal ({goal:g} s)" if goal else ""
    print(f"{name:<58} {seconds * 1000:10.1f} ms   {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny-random")
    args = parser.parse_args()
    import numpy as np
    import torch

    from explorer.concepts.index import ConceptIndex, read_cache, write_cache
    from explorer.concepts.projection import MapWarmup, concept_map, query_points
    from explorer.concepts.vocabularies import Vocabulary, builtin_vocabulary
    from explorer.config import ExplorerConfig
    from explorer.models.loading import load_model
    from explorer.plots.map import concept_map_figure
    from explorer.text.encoding import encode_pooled

    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} (timings scale with other processes' load)")
    cache = Path(tempfile.mkdtemp(prefix="bench-map-"))
    config = ExplorerConfig(cache_dir=cache)
    # 1. the concept index: built once per model and vocabulary (first start ever), then cached
    model = load_model(args.model)
    index = ConceptIndex.for_model(model, "concepts", config=config, progress=lambda d, t: None)
    print(f"model {args.model}: {len(index)} concepts, d = {index.dim}; {index.note}\n")
    model.concept_indexes.clear()                                # a second start reads the disk cache

    warmup = MapWarmup()                                         # the app's

    def one_map(method: str, wait_s: float = 0.0):
        result = concept_map(index, query_points(model, QUERY), k=200, method=method, wait_s=wait_s, warmup=warmup)
        concept_map_figure(result).to_json()
        return result

    # 2. start as the app does (background warm-up), then ask for a UMAP map at once: PCA is served
    #    while numba compiles, with a note; then the first UMAP map once the warm-up is done
    started = time.perf_counter()
    warmup.start(model, config)
    index = ConceptIndex.for_model(model, "concepts", config=config)
    first, result = timed(lambda: one_map("umap", wait_s=0.5))
    row(f"first map right after start (served by {result.method})", first, 5.0)
    warmup.thread.join()
    row("  background warm-up: index + query path", warmup.model_done - started)
    row("  background warm-up: + UMAP fit and transform JIT", warmup.transform_done - started)
    first_umap, result = timed(lambda: one_map("umap"))
    row(f"first UMAP map after the warm-up ({result.method})", first_umap, 5.0)
    # 3. warm maps: 200 neighbours + 10 query points, query encoding and figure included
    warm, result = timed(lambda: one_map("umap"), repeat=3)
    row(f"warm UMAP map, 200 + {len(result.labels) - 200} points (median of 3)", warm, 2.0)
    row("  of which the UMAP fit", result.seconds)
    pca, _ = timed(lambda: one_map("pca"), repeat=3)
    row("warm PCA map (median of 3)", pca, 2.0)
    placed, _ = timed(lambda: result.add(query_points(model, "a red fox")), repeat=3)
    row("place a new point into the fitted map (transform)", placed)
    # 4. nearest neighbours in a 50,000 x 768 index
    rng = np.random.default_rng(0)
    big = rng.normal(size=(50_000, 768)).astype(np.float32)
    big /= np.linalg.norm(big, axis=1, keepdims=True)
    vocab = Vocabulary("synthetic", [f"entry {i}" for i in range(len(big))], ["c"] * len(big))
    big_index = ConceptIndex(vocab, big)
    query = rng.normal(size=768).astype(np.float32)
    big_index.nearest(query, k=10)
    nearest, _ = timed(lambda: big_index.nearest(query, k=10), repeat=50)
    row("nearest k=10 in 50,000 x 768 (median of 50)", nearest, 0.020)
    # 5. second start: the cached index from disk
    path = cache / "synthetic.npz"
    write_cache(path, big_index)
    load_big, _ = timed(lambda: read_cache(path, vocab, "synthetic"), repeat=3)
    row(f"load a cached 50,000 x 768 index ({path.stat().st_size / 2**20:.0f} MiB)", load_big, 1.0)
    model.concept_indexes.clear()
    load_real, again = timed(lambda: ConceptIndex.for_model(model, "concepts", config=config))
    row(f"second start: ConceptIndex.for_model from cache ({len(again)} entries)", load_real, 1.0)
    # 6. dynamic padding vs 77-token padding (same pooled vectors, see tests/test_concepts.py)
    entries = builtin_vocabulary(model).entries[:512]
    dynamic, _ = timed(lambda: encode_pooled(model, entries), repeat=2)

    @torch.no_grad()
    def padded77():
        for s in range(0, len(entries), 64):
            ids = model.tokenizer(entries[s:s + 64], padding="max_length", max_length=77, truncation=True,
                                  return_tensors="pt")
            model.text_encoder(ids["input_ids"].to(model.device))

    full, _ = timed(padded77, repeat=2)
    row("encode 512 concepts, dynamic padding", dynamic)
    row("encode 512 concepts, 77-token padding", full)
    print(f"{'  speed-up of dynamic padding':<58} {full / dynamic:10.1f} x")


if __name__ == "__main__":
    main()
