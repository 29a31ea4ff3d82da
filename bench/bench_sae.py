"""Benchmark of the feature microscope (issue 29, item 1): SAE training time and memory on this CPU, the feature
view's latency, paint against plain generation, and painting measured against the oracle on 32 seeds.

    HF_HUB_OFFLINE=1 python bench/bench_sae.py [--seeds 32] [--repeats 3] [--train-images 256]

1. training: collect the residual updates of --train-images pictures and train each block's SAE for 200 batches
   (the shipped run: assets/miniworld/sae/labels.json "seconds"), peak memory (ru_maxrss)
2. the Features view of the most active colour feature: top pictures, heat maps and its per-step trace (median)
3. paint / plain generation, interleaved, median of --repeats each (goal <= 1.2)
4. for every colour (--colours), paint its purest feature into the object's box over --seeds seeds of PAINT_PROMPT
   (a blue square for red): the share whose oracle colour reading inside the box flips to the feature's colour (goal
   >= 80%), and the share of pixels outside the box that changed, mean and worst seed (goal <= 5%). Each colour is
   painted as calibrated (python -m explorer.inside.calibrate --calibrate, on seeds disjoint from these); --by-label
   paints the purest labelled feature instead, --strength, --edge, --steps-from / --steps-to choose how;
   --only-paint skips 1-3
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.inside.features import make_probe_set  # noqa: E402
from explorer.inside.microscope import COLOURS_FILE, SAE_FOLDER, Microscope, feature_view  # noqa: E402
from explorer.inside.paint import DEFAULT_STRENGTH, Paint, base_colour, colour_paint, \
    measure_paint, paint_generate, plain_images  # noqa: E402
from explorer.inside.train import BLOCKS, train_block  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402

PAINT_BLOCK = "up_blocks.1.attentions.0"
PAINT_PROMPT = "a large red square in the middle"
PAINT_COLOUR = "yellow"


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def best_feature(scope: Microscope, block: str, label: str) -> int:
    """The purest feature with this label in the block (ties: the most active)."""
    rows = [r for r in scope.features(block) if r["label"] == label]
    if not rows:
        raise SystemExit(f"no feature of {block} is labelled {label}")
    return min(rows, key=lambda r: (-r["purity"], r["rank"]))["id"]


def sections_1_to_3(model, scope, args) -> None:
    """1. training, 2. the feature view, 3. paint / plain."""
    # 1. training
    started = time.perf_counter()
    rows = make_probe_set(model, args.train_images, 1, BLOCKS).updates
    collect = time.perf_counter() - started
    print(f"collect: {collect / args.train_images * 1000:.0f} ms per picture ({args.train_images} pictures, "
          f"{len(BLOCKS)} blocks)")
    with tempfile.TemporaryDirectory() as work:
        for i, block in enumerate(BLOCKS):
            started = time.perf_counter()
            train_block(rows[block].reshape(-1, rows[block].shape[-1]), Path(work), block, 200, seed=i)
            print(f"train {block}: {(time.perf_counter() - started) / 200 * 1000:.0f} ms per batch")
    print(f"shipped run (labels.json): {scope.record['seconds']}")
    for block in scope.blocks:
        print(f"purity: {block}: {scope.record['blocks'][block]['pure_share']:.0%} of the 64 most active features "
              f"have purity >= 0.8 (goal >= 80%)")
    print(f"peak memory so far (ru_maxrss): {peak_gb():.2f} GiB")
    # 2. the feature view
    feature = best_feature(scope, PAINT_BLOCK, f"colour:{PAINT_COLOUR}")
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        feature_view(model, scope, PAINT_BLOCK, feature, seed=0)
        times.append(time.perf_counter() - started)
    print(f"feature view ({PAINT_BLOCK} #{feature}): {statistics.median(times):.2f} s (median of {args.repeats})")
    # 3. paint / plain
    recipe = recipe_defaults(model, PAINT_PROMPT, seed=0)
    paint = Paint(PAINT_BLOCK, feature, (16, 16, 48, 48), **({"strength": args.strength} if args.strength else {}))
    plain_s, paint_s = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        generate(model, recipe, watch=False)
        plain_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        paint_generate(model, recipe, paint, scope.saes, watch=False)
        paint_s.append(time.perf_counter() - started)
    print(f"paint / plain = {statistics.median(paint_s) / statistics.median(plain_s):.3f} (goal <= 1.2; plain "
          f"{statistics.median(plain_s):.2f} s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-images", type=int, default=256)
    parser.add_argument("--strength", type=float, default=None, help="paint strength (default: the library's)")
    parser.add_argument("--edge", type=float, default=None, help="weight of the box's edge cells (default: library's)")
    parser.add_argument("--steps-from", type=int, default=0)
    parser.add_argument("--steps-to", type=int, default=None)
    parser.add_argument("--colours", default="red,orange,yellow,green,blue,purple")
    parser.add_argument("--only-paint", action="store_true", help="skip 1-3 (training, view, latency)")
    parser.add_argument("--paint", default="", help="colour=FEATURE@MAGNITUDE,...: paint these colours with this "
                        "feature of the up block, its vector this long (strength = magnitude / its mean activation)")
    parser.add_argument("--by-label", action="store_true",
                        help="paint each colour's purest labelled feature (--strength, --steps-*) instead of the "
                             "calibrated paint (assets/miniworld/sae/paint_colours.json)")
    args = parser.parse_args()
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    scope = Microscope.for_model(model)
    print("machine: 2 shared cores, loaded by other engineers' work: read ratios, not seconds")
    if not args.only_paint:
        sections_1_to_3(model, scope, args)
    # 4. painting against the oracle, every colour (each seed's plain and painted images in one batch each)
    calibration = {}
    chosen_paints = {c: (int(f), float(m)) for c, f, m in
                     (re.fullmatch(r"(\w+)=(\d+)@([\d.]+)", p).groups() for p in args.paint.split(",") if p)}
    if not args.by_label and set(args.colours.split(",")) - set(chosen_paints):
        path = model.folder / SAE_FOLDER / COLOURS_FILE
        calibration = json.loads(path.read_text(encoding="utf-8"))
        if set(calibration["seeds"]) & set(range(args.seeds)):
            raise SystemExit(f"{path}: its calibration seeds overlap the measured seeds")
        print(f"paint per colour as calibrated in {path} (seeds {calibration['seeds']})")
    seeds = list(range(args.seeds))
    plains: dict[str, list] = {}
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    for colour in args.colours.split(","):
        base = base_colour(colour)                           # the prompt's colour is never the painted one
        prompt = PAINT_PROMPT.replace("red", base)
        recipes = [recipe_defaults(model, prompt, seed=s) for s in seeds]
        if base not in plains:
            plains[base] = plain_images(model, recipes)
        if colour in chosen_paints:
            block, subtract, steps_from, steps_to = PAINT_BLOCK, None, args.steps_from, args.steps_to
            feature, magnitude = chosen_paints[colour]
            mean = float(scope.saes.get(block).mean[feature])
            strength = round(magnitude / (mean if mean > 0 else 1.0), 4)      # PaintHook's scale
        elif calibration:
            chosen = colour_paint(colour, (0, 0, 1, 1), calibration)
            block, feature, subtract = chosen.block, chosen.feature, chosen.subtract
            strength, steps_from, steps_to = chosen.strength, chosen.steps_from, chosen.steps_to
        else:
            block, feature, subtract = PAINT_BLOCK, scope.best(PAINT_BLOCK, f"colour:{colour}"), None
            strength, steps_from, steps_to = args.strength or DEFAULT_STRENGTH, args.steps_from, args.steps_to
        if feature is None:
            print(f"paint colour:{colour}: no feature of {block} carries the label")
            continue
        started = time.process_time()
        trials = measure_paint(model, scope.saes, block, feature, recipes, plain=plains[base], strength=strength,
                               edge=args.edge, steps_from=steps_from, steps_to=steps_to, subtract=subtract)
        drawn = [t for t in trials if t.box is not None]
        flips = sum(t.flipped(colour) for t in drawn)
        outside = [t.outside for t in drawn] or [float("nan")]
        swap = f" - #{subtract}" if subtract is not None else ""
        print(f"paint {block} #{feature}{swap} x{strength:g} steps {steps_from}-{steps_to} (to {colour}) into the "
              f"object's box of '{prompt}', {args.seeds} seeds: flipped to {colour} in {flips} of {len(drawn)} = "
              f"{flips / max(1, len(drawn)):.0%} (goal >= 80%); pixels outside the box changed: mean "
              f"{np.mean(outside):.1%}, worst seed {max(outside):.1%} (goal <= 5%); "
              f"{time.process_time() - started:.0f} CPU s, load average {os.getloadavg()[0]:.1f}", flush=True)
        print("  readings after: " + ", ".join(f"{t.after}" for t in drawn), flush=True)
    print(f"peak memory (ru_maxrss): {peak_gb():.2f} GiB")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(min(2, torch.get_num_threads()))
    sys.exit(main())
