"""Benchmark of the archive (issue 15): index builds, their peak memory, and exact nearest-neighbour queries.

    HF_HUB_OFFLINE=1 python bench/bench_archive.py [--queries 200] [--skip-training]

1. build the index of miniworld's 20,000 training images (drawn again from the seed, embedded by its CLIP)
2. build the index of a 1,000-image folder of small PNGs (written to a temp folder first)
   each build runs in a fresh process, so its peak memory (ru_maxrss) is its own
3. exact top-10 queries over 10^5 random unit vectors of the miniworld CLIP's size (64) and of 768 dims
   (median of many, interleaved; goal < 50 ms), and the novelty scale of such an archive (2,000 rows)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # shared CPUs: spinning OpenMP threads cost 10x (train.py)

QUERY_GOAL_S = 0.050
ARCHIVE_ROWS = 100_000
FOLDER_IMAGES = 1000


def peak_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(kind: str) -> dict:
    """One index build in this process: seconds and peak memory (model loading timed apart)."""
    import torch

    from explorer.archive.index import load_archive
    from explorer.archive.sources import default_source, folder_source
    from explorer.config import ExplorerConfig
    from explorer.models.loading import load_model
    from explorer.models.vision import load_vision

    start = time.perf_counter()
    model = load_model("miniworld")
    vision = load_vision(model)
    loaded = time.perf_counter() - start
    before = peak_mb()
    with tempfile.TemporaryDirectory() as temp:
        config = ExplorerConfig(cache_dir=Path(temp) / "cache")
        start = time.perf_counter()
        if kind == "training":
            source = default_source(model)
        else:
            folder = Path(temp) / "photos"
            write_folder(folder, FOLDER_IMAGES)
            source = folder_source(folder, config.max_archive_images, config.max_image_pixels)
        index = load_archive(source, vision, config)
        seconds = time.perf_counter() - start
        size = index.path.stat().st_size
        start = time.perf_counter()
        load_archive(source, vision, config, memory=False)
        cached = time.perf_counter() - start
    return {"kind": kind, "images": len(index), "dim": index.dim, "seconds": seconds, "cached_s": cached,
            "load_model_s": loaded, "peak_mb": peak_mb(), "peak_before_build_mb": before, "cache_mb": size / 2**20,
            "threads": torch.get_num_threads()}


def write_folder(folder: Path, n: int) -> None:
    """n small PNGs (64 x 64, random colour blocks) with a caption file for every other one."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        blocks = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        Image.fromarray(blocks).resize((64, 64), Image.Resampling.NEAREST).save(folder / f"{i:05d}.png")
        if i % 2 == 0:
            (folder / f"{i:05d}.txt").write_text(f"random blocks {i}")


def in_fresh_process(kind: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--build", kind], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def queries(repeats: int) -> None:
    """Exact top-10 over 10^5 random unit vectors per dimension; the novelty scale's cost at that size."""
    import numpy as np

    from _timing import best_and_median, interleaved
    from explorer.archive.index import ArchiveIndex
    from explorer.archive.novelty import nearest_other_distances, sample_rows

    rng = np.random.default_rng(0)
    indexes, probes = {}, {}
    for dim in (64, 768):
        vectors = rng.standard_normal((ARCHIVE_ROWS, dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        indexes[dim] = ArchiveIndex(None, [str(i) for i in range(ARCHIVE_ROWS)], [None] * ARCHIVE_ROWS, vectors,
                                    np.zeros(0, np.float32), "bench")
        probe = rng.standard_normal((repeats + 1, dim), dtype=np.float32)
        probes[dim] = iter(probe / np.linalg.norm(probe, axis=1, keepdims=True))
    runs = {f"{dim}-d": (lambda d=dim: indexes[d].top_k(next(probes[d]), 10)) for dim in indexes}
    best, median = best_and_median(interleaved(runs, repeats))
    for name in runs:
        print(f"  query top-10 of {ARCHIVE_ROWS:,} x {name:<6} median {median[name] * 1000:7.2f} ms   "
              f"best {best[name] * 1000:6.2f} ms   {median[name] / QUERY_GOAL_S:5.2f} x goal (50 ms)")
    for dim, index in indexes.items():
        start = time.perf_counter()
        nearest_other_distances(index.embeddings, sample_rows(ARCHIVE_ROWS))
        print(f"  novelty scale (2,000 sampled rows vs {ARCHIVE_ROWS:,}) at {dim} dims: "
              f"{time.perf_counter() - start:.2f} s")
    print(f"  memory of the 768-d embeddings: {indexes[768].embeddings.nbytes / 2**20:.0f} MB; "
          f"peak of this process {peak_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", choices=["training", "folder"], help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=int, default=200, help="queries per dimension (default 200)")
    parser.add_argument("--skip-training", action="store_true", help="leave out the 20,000-image build")
    args = parser.parse_args()
    if args.build:
        print(json.dumps(build(args.build)))
        return
    print(f"CPU cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, OMP_WAIT_POLICY "
          f"{os.environ.get('OMP_WAIT_POLICY')}")
    for kind in (["folder"] if args.skip_training else ["training", "folder"]):
        r = in_fresh_process(kind)
        print(f"  build {r['kind']:<9} {r['images']:>6,} images ({r['dim']}-d): {r['seconds']:6.1f} s "
              f"({r['images'] / r['seconds']:5.0f} images/s, {r['threads']} threads), from the disk cache "
              f"{r['cached_s'] * 1000:.0f} ms, cache file {r['cache_mb']:.1f} MB; peak RSS {r['peak_mb']:.0f} MB "
              f"(model loaded: {r['peak_before_build_mb']:.0f} MB)")
    queries(args.queries)


if __name__ == "__main__":
    main()
