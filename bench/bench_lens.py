"""The text-encoder lens on miniworld, checked with the pixel oracle: at which layer does the prompt's meaning form?

    HF_HUB_OFFLINE=1 python bench/bench_lens.py [--seeds 32] [--steps 25] [--prompts 4] [--json]

For every prompt and seed, one lens call (explorer.inside.lens: one batched pipeline call, every layer of the text
encoder, the same seed) and the oracle's reading (explorer.world.oracle, no learned model) of each layer's picture.
Single objects ("a red circle"): a layer is right when the oracle reads the prompt's colour and shape. Two objects
("a red circle and a blue square"; miniworld draws one object a picture, so this asks whether what it draws keeps
a colour with its own shape): right when the reading is one of the two objects, swapped when it is one object's
colour on the other's shape. Prints, per layer, the share right (and swapped) over all prompts x seeds, and the
first layer at which >= 80% are right; --json prints the same as JSON. Also the lens's cost against one ordinary
generation (a ratio measured in the same run; the machine is shared, so absolute seconds mean little).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import Recipe  # noqa: E402
from explorer.inside.lens import GOAL, first_layer, judge, lens  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.models.presets import PRESETS  # noqa: E402
from explorer.world import oracle  # noqa: E402

SINGLE = [("a red circle", [("red", "circle")]), ("a blue square", [("blue", "square")]),
          ("a purple cross", [("purple", "cross")]), ("an orange triangle", [("orange", "triangle")])]
PAIRS = [("a red circle and a blue square", [("red", "circle"), ("blue", "square")]),
         ("a purple cross and a yellow circle", [("purple", "cross"), ("yellow", "circle")]),
         ("an orange triangle and a green cross", [("orange", "triangle"), ("green", "cross")]),
         ("a blue circle and a red square", [("blue", "circle"), ("red", "square")])]


def measure(model, prompts, seeds: int, steps: int, guidance: float, size: int) -> dict:
    """{"right": [share per layer], "swapped": [...], "first_layer": k or None, "n": prompts x seeds}."""
    counts = None
    for prompt, objects in prompts:
        for seed in range(seeds):
            recipe = Recipe(model="miniworld", prompt=prompt, seed=seed, steps=steps, guidance=guidance,
                            width=size, height=size, preview="full")
            verdicts = [judge(oracle.read(np.asarray(row.image)), objects) for row in lens(model, recipe).layers]
            print(f"{prompt!r} seed {seed}: {' '.join(verdicts)}", file=sys.stderr, flush=True)
            if counts is None:
                counts = {"right": [0] * len(verdicts), "swapped": [0] * len(verdicts)}
            for k, verdict in enumerate(verdicts):
                if verdict in counts:
                    counts[verdict][k] += 1
    n = len(prompts) * seeds
    right = [c / n for c in counts["right"]]
    return {"right": right, "swapped": [c / n for c in counts["swapped"]], "first_layer": first_layer(right), "n": n}


def cost_ratio(model, steps: int, guidance: float, size: int) -> dict:
    """Seconds of one lens call over one ordinary generation of the same recipe (best of 2 each, interleaved)."""
    recipe = Recipe(model="miniworld", prompt="a red circle", seed=0, steps=steps, guidance=guidance,
                    width=size, height=size, preview="full")
    times = {"lens": [], "generate": []}
    for _ in range(2):
        for name, run in (("lens", lambda: lens(model, recipe)),
                          ("generate", lambda: generate(model, recipe, watch=False))):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {"lens_over_generate": min(times["lens"]) / min(times["generate"]),
            "layers": len(lens(model, recipe).layers)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    preset = PRESETS["miniworld"]
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--steps", type=int, default=preset.steps)
    parser.add_argument("--guidance", type=float, default=preset.guidance)
    parser.add_argument("--prompts", type=int, default=len(SINGLE), help="prompts a group (the first N of each list)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    size = preset.size
    start = time.perf_counter()
    report = {"seeds": args.seeds, "steps": args.steps, "guidance": args.guidance, "goal": GOAL,
              "prompts": args.prompts,
              "single": measure(model, SINGLE[:args.prompts], args.seeds, args.steps, args.guidance, size),
              "pairs": measure(model, PAIRS[:args.prompts], args.seeds, args.steps, args.guidance, size),
              "cost": cost_ratio(model, args.steps, args.guidance, size)}
    report["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(report, indent=1))
        return report
    print(f"miniworld, {args.seeds} seeds x {args.prompts} prompts a group, {args.steps} steps, "
          f"guidance {args.guidance} (shared 2-core machine: {report['seconds']} s in all)")
    print("| layer | single objects: colour and shape right | two objects: one object right | two objects: swapped |")
    print("|---|---|---|---|")
    for k in range(len(report["single"]["right"])):
        print(f"| {k} | {report['single']['right'][k]:.0%} | {report['pairs']['right'][k]:.0%} "
              f"| {report['pairs']['swapped'][k]:.0%} |")
    print(f"first layer >= {GOAL:.0%} right: single {report['single']['first_layer']}, "
          f"two objects {report['pairs']['first_layer']}")
    print(f"one lens call ({report['cost']['layers']} pictures) / one ordinary generation: "
          f"{report['cost']['lens_over_generate']:.2f}x")
    return report


if __name__ == "__main__":
    main()
