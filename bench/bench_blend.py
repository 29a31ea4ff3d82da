"""Benchmark: the blend comparator's 7 panels, batched, vs 7 separate generations.

    HF_HUB_OFFLINE=1 python bench/bench_blend.py [--model tiny-random] [--steps 10] [--size 64] [--repeats 3]

Batched: the six prompt-embeds panels (A, B, "A, B", lerp, slerp, sum) in ONE pipeline call with a
(6, 77, d) batch of prompt_embeds and six copies of the seed's noise, plus the AND panel's own loop.
Separate: generate() once per panel recipe. Runs are interleaved and the medians compared, so machine
noise hits both alike; the ratio separate/batched is printed, with the largest pixel difference.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from explorer.explore.blends import compare, panel_recipes  # noqa: E402
from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-random")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--a", default="van Gogh")
    parser.add_argument("--b", default="astronaut")
    args = parser.parse_args()

    model = load_model(args.model)
    model.pipe.set_progress_bar_config(disable=True)
    base = recipe_defaults(model, args.a, seed=0, steps=args.steps, width=args.size, height=args.size,
                           scheduler="ddim")
    recipes = [p.recipe for p in panel_recipes(model, args.a, args.b, base)]

    def batched():
        return [p.image for p in compare(model, args.a, args.b, base, batched=True, vision=False).panels]

    def separate():
        return [generate(model, r, watch=False).image for r in recipes]

    batched(), separate()                                          # warm up: encodings cached, kernels ready
    times = {"batched": [], "separate": []}
    for _ in range(args.repeats):
        for name, run in (("batched", batched), ("separate", separate)):
            started = time.perf_counter()
            images = run()
            times[name].append(time.perf_counter() - started)
            if name == "batched":
                first = images
            else:
                second = images
    diff = max(int(np.abs(np.asarray(x, dtype=int) - np.asarray(y, dtype=int)).max()) for x, y in zip(first, second))
    b, s = statistics.median(times["batched"]), statistics.median(times["separate"])
    print(f"model {args.model}, {args.steps} steps, {args.size}x{args.size}, 7 panels, medians of {args.repeats}:")
    print(f"  batched (6 panels in one pipeline call + AND loop): {b:.2f} s")
    print(f"  separate (7 generate calls):                        {s:.2f} s")
    print(f"  ratio separate / batched: {s / b:.2f}x   (largest pixel difference between the two: {diff}/255)")


if __name__ == "__main__":
    main()
