"""Benchmark: 16 interpolation frames in UNet batches vs 16 sequential pipeline calls (one per frame).

    HF_HUB_OFFLINE=1 python bench/bench_interpolate.py [--model tiny-random] [--frames 16] [--steps 10]
        [--batch-size 8] [--size 64]

Prints both wall times (best of --repeats) and their ratio; the goal is batched >= 1.5x faster.
Both paths make the same frames (max pixel difference printed as a check).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))      # run from anywhere: the repo's explorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    import numpy as np
    import torch

    from explorer.config import ExplorerConfig
    from explorer.explore.walks import interpolate, plan_walk
    from explorer.generation.generate import generate
    from explorer.generation.recipe import recipe_defaults
    from explorer.models.loading import load_model

    # 1. the model and the walk's recipes
    model = load_model(args.model)
    model.pipe.set_progress_bar_config(disable=True)
    config = ExplorerConfig(max_frames=max(64, args.frames), max_batch=max(16, args.batch_size))
    base = recipe_defaults(model, "x", steps=args.steps, width=args.size, height=args.size, seed=3)
    ends = ["a watercolor painting of a lighthouse", "a photograph of a red fox"]
    walk = plan_walk(model, base, ends, [3], args.frames, "slerp")
    generate(model, base, watch=False)                                  # warm-up

    # 2. sequential: one full pipeline call per frame (each frame's recipe through generate)
    def sequential():
        return [generate(model, f.recipe, watch=False).image for f in walk.frames]

    # 3. batched: the walk itself
    def batched():
        return [f.image for f in interpolate(model, base, ends, [3], args.frames, batch_size=args.batch_size,
                                             config=config).frames]

    def best(fn):
        times, out = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
        return min(times), out

    torch.set_grad_enabled(False)
    t_seq, seq_images = best(sequential)
    t_bat, bat_images = best(batched)
    diff = max(float(np.abs(np.asarray(x, np.int16) - np.asarray(y, np.int16)).max())
               for x, y in zip(seq_images, bat_images))
    print(f"model {args.model}, {args.frames} frames, {args.steps} steps, {args.size}x{args.size}, "
          f"batch {args.batch_size}, torch threads {torch.get_num_threads()}")
    print(f"sequential: {t_seq:.2f} s   batched: {t_bat:.2f} s   ratio: {t_seq / t_bat:.2f}x faster "
          f"(goal >= 1.5x)   max pixel difference: {diff:.0f}/255")


if __name__ == "__main__":
    main()
