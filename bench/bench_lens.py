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
from collections import Counter
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

HEADERS = {"single": "single object: colour and shape right",
           "pairs": "two objects: one object right | swapped | a named colour | a named shape"}
COLUMNS = {"single": ("right",), "pairs": ("right", "swapped", "colour_named", "shape_named")}


def measure(model, prompts, seeds: int, steps: int, guidance: float, size: int) -> dict:
    """Shares per layer over prompts x seeds: "right", "swapped" (explorer.inside.lens.judge), "colour_named" and
    "shape_named" (the reading's colour / shape is one the prompt names); "first_layer": the first layer with
    >= 80% right (None: none); "last_readings": what the oracle read from the last layer, with counts."""
    counts, last = None, Counter()
    for prompt, objects in prompts:
        for seed in range(seeds):
            recipe = Recipe(model="miniworld", prompt=prompt, seed=seed, steps=steps, guidance=guidance,
                            width=size, height=size, preview="full")
            readings = [oracle.read(np.asarray(row.image)) for row in lens(model, recipe).layers]
            verdicts = [judge(reading, objects) for reading in readings]
            print(f"{prompt!r} seed {seed}: {' '.join(verdicts)}", file=sys.stderr, flush=True)
            if counts is None:
                counts = {key: [0] * len(verdicts) for key in ("right", "swapped", "colour_named", "shape_named")}
            for k, (verdict, reading) in enumerate(zip(verdicts, readings)):
                if verdict in ("right", "swapped"):
                    counts[verdict][k] += 1
                counts["colour_named"][k] += reading.colour in {c for c, _ in objects}
                counts["shape_named"][k] += reading.shape in {s for _, s in objects}
            last[f"{readings[-1].colour} {readings[-1].shape}"] += 1
    n = len(prompts) * seeds
    report = {key: [c / n for c in values] for key, values in counts.items()}
    return {**report, "first_layer": first_layer(report["right"]), "n": n, "last_readings": dict(last.most_common())}


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
    parser.add_argument("--groups", default="single,pairs", help="which groups to measure: single, pairs or both")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    size = preset.size
    start = time.perf_counter()
    report = {"seeds": args.seeds, "steps": args.steps, "guidance": args.guidance, "goal": GOAL,
              "prompts": args.prompts,
              **{name: measure(model, group[:args.prompts], args.seeds, args.steps, args.guidance, size)
                 for name, group in (("single", SINGLE), ("pairs", PAIRS)) if name in args.groups.split(",")},
              "cost": cost_ratio(model, args.steps, args.guidance, size)}
    report["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(report, indent=1))
        return report
    print(f"miniworld, {args.seeds} seeds x {args.prompts} prompts a group, {args.steps} steps, "
          f"guidance {args.guidance} (shared 2-core machine: {report['seconds']} s in all)")
    groups = [name for name in ("single", "pairs") if name in report]
    layers = len(report[groups[0]]["right"])
    print("| layer | " + " | ".join(HEADERS[name] for name in groups) + " |")
    print("|---|" + "---|" * sum(len(HEADERS[name].split(" | ")) for name in groups))
    for k in range(layers):
        cells = [f"{report[name][key][k]:.0%}" for name in groups for key in COLUMNS[name]]
        print(f"| {k} | " + " | ".join(cells) + " |")
    for name in groups:
        print(f"{name}: first layer >= {GOAL:.0%} right: {report[name]['first_layer']}; "
              f"read from the last layer: {report[name]['last_readings']}")
    print(f"one lens call ({report['cost']['layers']} pictures) / one ordinary generation: "
          f"{report['cost']['lens_over_generate']:.2f}x")
    return report


if __name__ == "__main__":
    main()
