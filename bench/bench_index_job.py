"""The archive index as a Ray job against the single-machine build, measured in one run (issue 19, item 4).

Indexes the first N images of miniworld's training set (drawn again from its seed) twice, into fresh caches:
once with load_archive in this process (torch's threads), once with `index-job` on a local Ray cluster of every
CPU (one single-threaded task per shard). Prints both rates, their ratio, and what 10^6 images take at each rate.

    HF_HUB_OFFLINE=1 python bench/bench_index_job.py [--images 4096] [--shard 1024]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from explorer.archive.index import load_archive  # noqa: E402
from explorer.archive.sources import training_source  # noqa: E402
from explorer.config import ExplorerConfig  # noqa: E402
from explorer.jobs.index_job import IndexJob, run_index_job  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.models.vision import load_vision  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--shard", type=int, default=1024)
    args = parser.parse_args()
    model = load_model("miniworld")
    vision = load_vision(model)
    source = training_source(model.folder, args.images)
    with tempfile.TemporaryDirectory() as temp:
        started = time.perf_counter()
        single = load_archive(source, vision, ExplorerConfig(cache_dir=Path(temp) / "single"), memory=False)
        single_s = time.perf_counter() - started
        started = time.perf_counter()
        summary = run_index_job(IndexJob("miniworld", shard=args.shard, limit=args.images), Path(temp) / "job",
                                config=ExplorerConfig(cache_dir=Path(temp) / "job-cache"))
        job_s = time.perf_counter() - started
        jobbed = load_archive(source, vision, ExplorerConfig(cache_dir=Path(temp) / "job-cache"), memory=False)
    same = np.abs(jobbed.embeddings - single.embeddings).max()
    print(f"miniworld's CLIP over {len(single):,} training images ({summary['shards']} shards of {args.shard}), "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}:")
    for name, seconds in (("single process (load_archive)", single_s), ("index-job on local Ray", job_s)):
        rate = len(single) / seconds
        print(f"  {name}: {seconds:.1f} s, {rate:.0f} images/s; 10^6 images: {1e6 / rate / 3600:.2f} h")
    print(f"index-job / single process = {job_s / single_s:.2f} (Ray's start-up and each worker's model load "
          f"included); largest difference of an embedding: {same:.2e} (threads differ: 1 per task)")


if __name__ == "__main__":
    main()
