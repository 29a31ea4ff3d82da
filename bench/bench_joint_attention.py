"""Cost of recording joint-attention maps on SD3 / FLUX: generation with maps / without, measured in one run
(goal <= 1.3); with --miniworld-dit, the shape word's attention inside the drawn shape on that preset (issue 28 item 4).

Models: tiny-random-sd3 and tiny-random-flux (built offline), and a mid-size config of each family: the tiny
pipeline's text encoders and VAE with a bigger transformer (SD3: 6 joint blocks, 6 heads x 64; FLUX: 3 double- and
6 single-stream blocks, 6 heads x 64; 128 px, 1,024 image tokens; random weights: time does not depend on their
values). Runs are interleaved (plain, with maps, repeat); the headline is the ratio of the best CPU times
(time.process_time: the machine is shared, CPU time is what the capture costs), wall-clock ratios beside it.
The maps are the image-to-text block of the joint softmax (explorer.generation.joint_attention).

Usage: python bench/bench_joint_attention.py [--repeats 5] [--steps 4] [--models tiny-random-sd3,mid-sd3,...]
       python bench/bench_joint_attention.py --miniworld-dit [--seeds 3]      (the miniworld-dit preset: item 4)
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
import torch  # noqa: E402

from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402

MODELS = ("tiny-random-sd3", "tiny-random-flux", "mid-sd3", "mid-flux")
MID_SIZE = 128


def mid_size(family: str):
    """The tiny pipeline of the family with a mid-size transformer (random weights, same text and latent widths)."""
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel

    model = load_model("tiny-random-sd3" if family == "sd3" else "tiny-random-flux")
    old = model.pipe.transformer.config
    torch.manual_seed(0)
    if family == "sd3":
        big = SD3Transformer2DModel(sample_size=64, patch_size=2, in_channels=16, out_channels=16, num_layers=6,
                                    attention_head_dim=64, num_attention_heads=6, caption_projection_dim=384,
                                    joint_attention_dim=old.joint_attention_dim,
                                    pooled_projection_dim=old.pooled_projection_dim, pos_embed_max_size=96)
    else:
        big = FluxTransformer2DModel(patch_size=1, in_channels=old.in_channels, num_layers=3, num_single_layers=6,
                                     attention_head_dim=64, num_attention_heads=6,
                                     joint_attention_dim=old.joint_attention_dim,
                                     pooled_projection_dim=old.pooled_projection_dim, axes_dims_rope=[16, 24, 24],
                                     guidance_embeds=old.guidance_embeds)
    model.pipe.register_modules(transformer=big.eval())
    return model


def timed(runs: dict, repeats: int) -> dict[str, dict[str, list[float]]]:
    """CPU and wall seconds per call of each run, interleaved, after one warm-up call each."""
    for fn in runs.values():
        fn()
    times = {name: {"cpu": [], "wall": []} for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            cpu, wall = time.process_time(), time.perf_counter()
            fn()
            times[name]["cpu"].append(time.process_time() - cpu)
            times[name]["wall"].append(time.perf_counter() - wall)
    return times


def overhead(name: str, repeats: int, steps: int) -> float:
    model = mid_size(name.split("-")[1]) if name.startswith("mid-") else load_model(name)
    model.pipe.set_progress_bar_config(disable=True)
    size = MID_SIZE if name.startswith("mid-") else model.preset.size
    recipe = recipe_defaults(model, "a red circle on the left", seed=1, steps=steps, width=size, height=size)
    runs = {"without maps": lambda: generate(model, recipe, watch=False),
            "with maps": lambda: generate(model, recipe, watch=False, attention=True)}
    times = timed(runs, repeats)
    best = {k: {kind: min(v) for kind, v in t.items()} for k, t in times.items()}
    median = {k: {kind: statistics.median(v) for kind, v in t.items()} for k, t in times.items()}
    ratio = best["with maps"]["cpu"] / best["without maps"]["cpu"]
    tokens = (size // model.adapter.size_multiple(model.pipe)) ** 2
    print(f"{name}: {size} px ({tokens} image tokens), {steps} steps, {repeats} interleaved repeats, "
          f"{sum(p.numel() for p in model.denoiser.parameters()) / 1e6:.1f} M transformer parameters; "
          f"best CPU s without / with maps {best['without maps']['cpu']:.3f} / {best['with maps']['cpu']:.3f}")
    print(f"  with maps / without = {ratio:.3f} best CPU time, "
          f"{median['with maps']['cpu'] / median['without maps']['cpu']:.3f} median CPU, "
          f"{best['with maps']['wall'] / best['without maps']['wall']:.3f} best wall  (goal <= 1.3)")
    return ratio


def miniworld_dit(seeds: int, steps: int) -> None:
    """The shape word's (and colour word's) attention mass inside the drawn shape over the shape's area share, as
    bench/attention_ground_truth.py measures the UNet miniworld (its 27 prompts; grounding.localisation)."""
    from attention_ground_truth import PROMPTS      # the UNet miniworld's 27 prompts (bench/ is this script's folder)

    from explorer.miniworld.grounding import localisation

    model = load_model("miniworld-dit")
    model.pipe.set_progress_bar_config(disable=True)
    ratios = localisation(model, PROMPTS, seeds, steps)
    for role, values in ratios.items():
        values = np.array(values)
        print(f"miniworld-dit, {role} word: map mass inside the shape / the shape's area share = "
              f"{values.mean():.3f} (median {np.median(values):.3f}, min {values.min():.3f}, {len(values)} images, "
              f"{steps} steps; 1.0 = uniform attention; goal for the shape word >= 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--miniworld-dit", action="store_true", help="measure the miniworld-dit preset's maps only")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: CPU time is least disturbed by "
                                                                 "other processes' load)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.miniworld_dit:
        miniworld_dit(args.seeds, max(args.steps, 10))
        return
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} (a shared machine)")
    for name in args.models.split(","):
        overhead(name, args.repeats, args.steps)


if __name__ == "__main__":
    main()
