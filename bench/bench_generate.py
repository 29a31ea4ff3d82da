"""Generation overhead on tiny-random (or --model tiny-random-xl / tiny-random-sd3 / tiny-random-flux), measured in one
run (ratios, not absolute times).

(a) explorer.generate without step previews / plain diffusers pipeline call   — goal <= 1.03
(b) explorer.generate with approx x_t and x0 previews on every step / plain   — goal <= 1.10

Runs are interleaved (plain, explorer, explorer+previews, repeat) so machine noise hits all three
alike; the ratio of the best times is the headline (noise only ever adds time), medians beside it. Usage: python bench/bench_generate.py [--repeats 15] [--steps 20] [--model tiny-random-xl]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from _timing import best_and_median, interleaved  # noqa: E402  (bench/ is this script's folder)

from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.generation.schedulers import make_scheduler  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--model", default="tiny-random",
                        help="tiny-random (SD), tiny-random-xl (SDXL), tiny-random-sd3 or tiny-random-flux")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's); use 1 when another process loads a core, since "
                             "a parallel section then waits a scheduler quantum for its second thread")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load_model(args.model)
    model.pipe.set_progress_bar_config(disable=True)
    recipe = recipe_defaults(model, "a watercolor painting of a lighthouse at dawn", seed=1, steps=args.steps,
                             width=args.size, height=args.size, preview="approx")     # (b): the preset may say full

    # the flow-matching pipelines take the T5 length the explorer's preset gives them
    extra = {"max_sequence_length": model.adapter.text_length(model.pipe)} if model.adapter.flow else {}

    def plain():
        pipe = model.pipe
        pipe.scheduler = make_scheduler(recipe.scheduler, model.base_scheduler_config, model.adapter.flow)
        with torch.inference_mode():
            pipe(recipe.prompt, num_inference_steps=recipe.steps, guidance_scale=recipe.guidance,
                 width=recipe.width, height=recipe.height, generator=torch.Generator("cpu").manual_seed(recipe.seed),
                 **extra)

    runs = {"plain diffusers": plain,
            "explorer": lambda: generate(model, recipe, watch=False),
            "explorer + approx previews": lambda: generate(model, recipe, watch=True)}
    times = interleaved(runs, args.repeats)
    best, median = best_and_median(times)
    print(f"torch threads {torch.get_num_threads()}, {args.model}, {args.steps} steps, {args.size}x{args.size}, "
          f"{args.repeats} interleaved repeats; best (median) seconds: "
          + ", ".join(f"{k} {best[k]:.3f} ({median[k]:.3f})" for k in times))
    for label, name, goal in (("(a) explorer / plain diffusers          ", "explorer", 1.03),
                              ("(b) explorer + approx previews / plain  ", "explorer + approx previews", 1.10)):
        print(f"{label} = {best[name] / best['plain diffusers']:.3f} best-of, "
              f"{median[name] / median['plain diffusers']:.3f} median  (goal <= {goal})")


if __name__ == "__main__":
    main()
