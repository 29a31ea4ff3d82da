"""Real-size costs without the hub (issue 19, item 1): SD 1.5's full architecture from its published configs with
random weights (costs do not depend on the weights' values), everything measured in one run.

    HF_HUB_OFFLINE=1 python bench/bench_real_size.py [--steps 4] [--size 512] [--repeats 1]
    HF_HUB_OFFLINE=1 python bench/bench_real_size.py --tiny          # CI's short version (tiny-random, seconds)

Prints, as ratios to plain diffusers (the same pipeline call without the explorer), runs interleaved:
1. explorer generate without previews / plain
2. each step-preview decoder / plain: approx (linear map), live (the VAE on x0 at reduced size within
   20% of the denoising time), taesd (the tiny decoder's architecture, random weights), full (the VAE on
   x_t and x0 every step)
3. cross-attention maps recorded / plain
4. concept-vocabulary encoding: seconds per 1,000 entries (the curated list's phrases)
5. nearest concepts over the encoded vocabulary: milliseconds per query
6. peak resident memory of the process
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # shared CPUs: spinning OpenMP threads cost 10x (bench_archive)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import best_and_median  # noqa: E402

from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.generation.schedulers import make_scheduler  # noqa: E402
from explorer.models import previews  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402

PREVIEW_GOAL = 1.25          # issue 19: real previews (the model's own decoding) at <= 1.25x plain


def model_for(tiny: bool):
    if tiny:
        model = load_model("tiny-random")
    else:
        from bench_attention import sd15_random  # SD 1.5's configs, random weights
        model = sd15_random()
    model.pipe.set_progress_bar_config(disable=True)
    return model


def with_random_taesd(model) -> None:
    """The tiny decoder's published architecture (AutoencoderTiny's defaults are taesd's), random weights, put where
    the preview decoder looks for the downloaded one."""
    from diffusers import AutoencoderTiny

    repo = model.adapter.taesd
    if repo is None:                                  # tiny models: no family decoder to stand in for
        return
    decoder = AutoencoderTiny().eval().to(model.device, model.dtype)
    previews._TAESD.get((repo, str(model.device), model.dtype), lambda: decoder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny-random instead of SD 1.5's full architecture")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=None, help="pixels (default 512; --tiny 64)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--vocabulary", type=int, default=1000, help="concepts to encode (default 1,000)")
    args = parser.parse_args()
    size = args.size or (64 if args.tiny else 512)
    model = model_for(args.tiny)
    with_random_taesd(model)
    recipe = recipe_defaults(model, "a watercolor painting of a lighthouse at dawn", seed=1, steps=args.steps,
                             width=size, height=size, scheduler="ddim")

    def plain():
        pipe = model.pipe
        pipe.scheduler = make_scheduler(recipe.scheduler, model.base_scheduler_config)
        with torch.inference_mode():
            pipe(recipe.prompt, num_inference_steps=recipe.steps, guidance_scale=recipe.guidance, width=size,
                 height=size, generator=torch.Generator("cpu").manual_seed(recipe.seed))

    seen = {}

    def watched(kind):
        def run():
            seen[kind] = generate(model, recipe.with_(preview=kind))
        return run

    runs = {"plain diffusers": plain, "explorer, no previews": lambda: generate(model, recipe, watch=False),
            **{f"preview {kind}": watched(kind) for kind in previews.available_decoders(model)},
            "attention maps": lambda: generate(model, recipe, watch=False, attention=True)}
    # one warm-up of the cheapest run (first calls allocate), then every run once per round
    generate(model, recipe.with_(steps=1), watch=False)
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
            print(f"  {name}: {times[name][-1]:.1f} s", flush=True)
    bests, _ = best_and_median(times)
    base = bests["plain diffusers"]
    what = "tiny-random" if args.tiny else "SD 1.5 architecture (860 M UNet, random weights)"
    print(f"{what}, {size} px, {args.steps} steps, ddim, guidance {recipe.guidance}, {args.repeats} interleaved "
          f"round(s), torch threads {torch.get_num_threads()}, device {model.device}")
    print(f"plain diffusers: {base:.1f} s ({base / args.steps:.1f} s per step incl. the final decode share)")
    for name, seconds in bests.items():
        if name != "plain diffusers":
            goal = f"  (goal <= {PREVIEW_GOAL})" if name == "preview live" else ""
            print(f"{name} / plain = {seconds / base:.3f}{goal}")
    if "live" in seen:
        steps = seen["live"].steps
        real = [s.index + 1 for s in steps if s.x0.shape != s.noisy.shape]      # the VAE's pictures are larger
        print(f"live previews: x0 by the VAE at steps {real} of {len(steps)} (the others: approx)")
    # 4-5. the concept vocabulary: encoding and nearest-neighbour queries
    from explorer.concepts.index import encode_vocabulary
    from explorer.concepts.vocabularies import builtin_vocabulary

    entries = (builtin_vocabulary(model).entries * 10)[:args.vocabulary]
    started = time.perf_counter()
    vectors = encode_vocabulary(model, entries)
    encode_s = time.perf_counter() - started
    query = vectors[:32]
    started = time.perf_counter()
    for q in query:
        np.argpartition(-(vectors @ q), 10)[:10]
    query_ms = (time.perf_counter() - started) / len(query) * 1000
    print(f"\nconcept encoding: {encode_s / len(entries) * 1000:.1f} s per 1,000 entries ({len(entries)} encoded, "
          f"{vectors.shape[1]}-d); nearest concepts over them: {query_ms:.2f} ms per query")
    print(f"peak memory (ru_maxrss): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
