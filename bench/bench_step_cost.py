"""Calibrate the cost model (explorer/generation/cost.py): seconds of one denoising step and of the final decode
at several sizes, fitted to fixed + linear·P + quadratic·P² (P = width x height in megapixels).

    HF_HUB_OFFLINE=1 python bench/bench_step_cost.py --model tiny-random --sizes 64,256,512,768
    HF_HUB_OFFLINE=1 python bench/bench_step_cost.py --model miniworld --sizes 64,128,256,384
    HF_HUB_OFFLINE=1 python bench/bench_step_cost.py --model sd15 --sizes 256,384,512    # real size, random weights

One step is one pipeline step with guidance (the UNet on a batch of 2, as every guided request runs), measured
as (time of `long` steps - time of 1 step) / (long - 1), so the encode, set-up and noise draw cancel out; the
decode is the VAE on one latent. Each is the best of `repeats` in CPU seconds at one thread (the wall time
on an idle core: this machine is shared, and wall time under load measures the load). Prints each size's figures and the fitted constants in the form cost.py keeps them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.optimize import nnls  # noqa: E402

from explorer.generation.conditioning import conditioning_for  # noqa: E402
from explorer.generation.cost import estimate  # noqa: E402
from explorer.generation.invariant import decode_alone  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.generation.schedulers import scheduler_in_pipeline  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402


def model_for(name: str):
    if name == "sd15":
        from bench_attention import sd15_random  # SD 1.5's configs, random weights
        model = sd15_random()
    else:
        model = load_model(name, "cpu")
    model.pipe.set_progress_bar_config(disable=True)
    return model


def seconds(fn, repeats: int) -> float:
    """The best of `repeats` runs in CPU seconds of this process: with one thread, the wall time the run takes on an
    idle core, whatever else shares the machine (wall time here was 20x the idle figure under the engineers' load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def measure(model, size: int, long: int, repeats: int) -> tuple[float, float]:
    """(seconds of one guided step, seconds of the final decode) at size x size."""
    recipe = recipe_defaults(model, "a red fox", width=size, height=size, steps=long, scheduler="ddim")
    if recipe.guidance <= 1:
        recipe = recipe.with_(guidance=5.0)
    kwargs = conditioning_for(model, recipe).pipeline_kwargs()

    def run(steps: int):
        def call():
            with scheduler_in_pipeline(model, "ddim"), torch.inference_mode():
                return model.pipe(**kwargs, num_inference_steps=steps, guidance_scale=recipe.guidance, width=size,
                                  height=size, generator=torch.Generator("cpu").manual_seed(0),
                                  output_type="latent").images
        return call

    latents = run(1)()                                              # warm-up (allocations, kernels)
    step = (seconds(run(long), repeats) - seconds(run(1), repeats)) / (long - 1)
    with torch.inference_mode():
        decode = seconds(lambda: decode_alone(model, latents), repeats)
    return max(step, 0.0), decode


def fit(sizes: list[int], values: list[float]) -> tuple[float, float, float]:
    """Non-negative least squares of values = fixed + linear·P + quadratic·P², P in megapixels, relative error
    weighted (each size counts alike, not the largest alone)."""
    p = np.array([s * s / 1e6 for s in sizes])
    y = np.array(values)
    design = np.stack([np.ones_like(p), p, p * p], axis=1) / y[:, None]
    solution, _ = nnls(design, np.ones_like(y))
    return tuple(float(v) for v in solution)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-random", help="preset name, or sd15 (real size, random weights)")
    parser.add_argument("--sizes", default="64,256,512", help="comma-separated sides in pixels")
    parser.add_argument("--long", type=int, default=3, help="steps of the long run (default 3)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="1: CPU time = idle wall time (default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = model_for(args.model)
    sizes = [int(s) for s in args.sizes.split(",")]
    steps, decodes = [], []
    for size in sizes:
        step, decode = measure(model, size, args.long, args.repeats)
        steps.append(step)
        decodes.append(decode)
        print(f"{args.model} {size} x {size}: {step:.3f} s a guided step, {decode:.3f} s to decode", flush=True)
    step_fit, decode_fit = fit(sizes, steps), fit(sizes, decodes)
    print(f"step:   fixed {step_fit[0]:.4g} s, linear {step_fit[1]:.4g} s/MP, quadratic {step_fit[2]:.4g} s/MP^2")
    print(f"decode: fixed {decode_fit[0]:.4g} s, linear {decode_fit[1]:.4g} s/MP, quadratic {decode_fit[2]:.4g} s/MP^2")
    if args.model != "sd15":
        for size, step, decode in zip(sizes, steps, decodes):
            recipe = recipe_defaults(model, "a red fox", width=size, height=size, steps=args.long)
            cost = estimate(model, recipe)
            print(f"  cost.py now: {size} px {cost.step:.3f} s a step (measured {step:.3f}), "
                  f"decode {cost.decode:.3f} s (measured {decode:.3f})")


if __name__ == "__main__":
    main()
