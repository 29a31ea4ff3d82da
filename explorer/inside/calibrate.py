"""Choose each colour's paint by what it WRITES, not by its label: `python -m explorer.inside.calibrate` writes
assets/miniworld/sae/paint_colours.json (a command-line tool: its texts are never shown on a page).

"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from explorer.generation.conditioning import conditioning_for
from explorer.generation.generate import hooked_blocks
from explorer.generation.invariant import decode_alone
from explorer.generation.noise import initial_noise, latent_shape, sampler_generator
from explorer.generation.recipe import Recipe, recipe_defaults
from explorer.generation.schedulers import scheduler_in_pipeline
from explorer.inside.features import make_probe_set
from explorer.inside.microscope import COLOURS_FILE, SAE_FOLDER, Microscope
from explorer.inside.paint import Paint, PaintHook, _cell, base_colour, colour_in_box, object_box, outside_changed
from explorer.models.conditioning import Conditioning
from explorer.models.loading import load_model
from explorer.models.tiny_decoder import decoder_used
from explorer.world import oracle

# Painting a colour. A feature that *reads* a colour (its label) need not *write* it: on miniworld the purest
# colour:red/green/blue/purple features of up_blocks.1 turn a red square orange, yellow or purple, or nothing. So each
# colour's paint is chosen by what it writes: `calibrate` paints candidate features (the purest with the colour's
# label, and the one whose decoder column points most along the colour's mean update) at a few scales, alone and as
# a swap (the object's own colour feature subtracted), into the object's box on CALIBRATION_SEEDS (disjoint from the
# bench's 32 seeds 0..31), and keeps, per colour, the one the oracle reads as that colour most often.
CALIBRATION_SEEDS = tuple(range(1000, 1006))
CALIBRATION_PROMPT = "a large {} square in the middle"
CALIBRATION_BLOCK = "up_blocks.1.attentions.0"
MAGNITUDES = (3.0, 4.0, 5.0, 7.0)             # the painted vector's length (strength = magnitude / the mean activation)
SWAP_MAGNITUDE = 5.0                          # the swap (the object's own colour feature subtracted) at this length
SCAN_MAGNITUDE = 5.0                          # every feature painted at this length in the scan
SCAN_OUTSIDE = 0.05                           # a writer changes at most this share of the outside pixels in the scan
SHORTLIST = 2                                 # writers per colour tried on all calibration seeds
DIRECTION_PROBES, DIRECTION_SEED = 256, 5     # pictures for the colours' mean updates (world seed 5: no other use)


def colour_directions(model, block: str, n: int = DIRECTION_PROBES, seed: int = DIRECTION_SEED) -> dict:
    """Per colour: the block's mean residual update on the object's cells of pictures of that colour (noised to the
    first half of the schedule, where colour is decided) minus the mean over all colours, (C,)."""
    probes = make_probe_set(model, n, seed, [block])
    updates = probes.updates[block]                                                  # (N, h, w, C)
    shapes = np.stack([oracle.foreground(image) for image in probes.images]).astype(np.float32)
    cells = F.interpolate(torch.from_numpy(shapes)[:, None], size=tuple(updates.shape[1:3]), mode="area")[:, 0] > 0.5
    early = torch.from_numpy(probes.steps < model.preset.steps // 2)[:, None, None]
    mean = updates[cells & early].mean(0)
    colours = [r["colour"] for r in probes.readings]
    return {c: updates[cells & early & torch.tensor([x == c for x in colours])[:, None, None]].mean(0) - mean
            for c in oracle.COLOURS}


def colour_candidates(scope, block: str, directions: dict) -> dict[str, list[int]]:
    """Per colour: the purest feature labelled with it, and the feature whose unit decoder column has the largest
    cosine with the colour's mean update (often the same; the calibration subtracts it in a swap)."""
    decoder = scope.saes.get(block).decoder.weight.detach()                         # (C, F), unit columns
    found = {}
    for colour, direction in directions.items():
        cosine = direction @ decoder / direction.norm()
        ids = [f for f in (scope.best(block, f"colour:{colour}"), int(cosine.argmax())) if f is not None]
        found[colour] = list(dict.fromkeys(ids))
    return found


def fast_images(model, recipes: list[Recipe], block: str, hook) -> list[np.ndarray]:
    """The recipes' images in one pipeline batch with a block hook, WITHOUT the per-image row grouping that makes
    generation.batches' batches bit-identical to solo runs (generation.invariant): about 4x faster on this CPU, for
    the calibration's search only; what it chooses is measured by the ordinary path (measure_paint, the bench)."""
    shape = latent_shape(model, recipes[0])
    conditioning = Conditioning.cat([conditioning_for(model, r) for r in recipes])
    latents = torch.cat([initial_noise(r, shape, model.dtype) for r in recipes])
    base = recipes[0]
    with scheduler_in_pipeline(model, base.scheduler), torch.inference_mode(), \
            hooked_blocks(model.denoiser, {block: hook}):
        final = model.pipe(**conditioning.pipeline_kwargs(), latents=latents.to(model.device, model.dtype),
                           num_inference_steps=base.steps, guidance_scale=base.guidance, width=base.width,
                           height=base.height, num_images_per_prompt=1,
                           generator=[sampler_generator(r, (1, *shape[1:]), model.dtype) for r in recipes],
                           output_type="latent").images
        return [np.asarray(decode_alone(model, final[k:k + 1], base.height, base.width,
                                        decoder_used(model, r)).convert("RGB")) for k, r in enumerate(recipes)]


def scan_writes(model, scope, block: str, recipe: Recipe, plain: np.ndarray, magnitude: float = SCAN_MAGNITUDE,
                chunk: int = 64) -> list[dict]:
    """What every feature of a block writes: each painted alone (its unit decoder column times `magnitude`, every
    step) into the object's box of one picture; the oracle's colour reading in the box and the outside change."""
    sae = scope.saes.get(block)
    box = object_box(plain, _cell(model, recipe, block))
    found = []
    for start in range(0, sae.n_dirs, chunk):
        ids = list(range(start, min(sae.n_dirs, start + chunk)))
        vectors = torch.stack([sae.direction(f).detach() * magnitude for f in ids])
        hook = PaintHook(sae, Paint(block, ids[0], box, 1.0, 0, recipe.steps), (recipe.height, recipe.width),
                         recipe.guidance > 1, [box] * len(ids), vectors=vectors)
        for f, image in zip(ids, fast_images(model, [recipe] * len(ids), block, hook)):
            found.append({"feature": f, "reads": colour_in_box(image, box),
                          "outside": round(outside_changed(plain, image, box), 4)})
    return found


def calibrate(model, scope, seeds=CALIBRATION_SEEDS, block: str = CALIBRATION_BLOCK, magnitudes=MAGNITUDES,
              progress: bool = False, given: dict[str, list[tuple[int, int | None, float]]] | None = None) -> dict:
    """Each colour's paint chosen by what it writes: (1) every feature of the block painted alone at SCAN_MAGNITUDE
    into the object's box of the first seed's picture (scan_writes); a colour's candidates are the SHORTLIST features
    the oracle reads as that colour there with the fewest outside pixels changed (at most SCAN_OUTSIDE), plus the
    purest feature labelled with the colour (the label's choice, kept for comparison); (2) each candidate at each magnitude, alone and as a swap (the object's own colour
    feature subtracted, at SWAP_MAGNITUDE), on every seed; the most flips win (ties: the smaller worst outside change).
    `given`: {colour: [(feature, subtract or None, magnitude), ...]}: only these colours, only these trials (no scan:
    a shortlist found by an earlier scan, cheaper to confirm)."""
    by_label = colour_candidates(scope, block, colour_directions(model, block)) if given is None else {}
    plains, scans, colours = {}, {}, {}
    for colour in (oracle.COLOURS if given is None else given):
        base = base_colour(colour)
        recipes = [recipe_defaults(model, CALIBRATION_PROMPT.format(base), seed=s) for s in seeds]
        if base not in plains:
            plains[base] = fast_images(model, recipes, block, lambda *hook: None)
        if given is not None:
            trials = [_trial(model, scope, block, f, swap, m, recipes, plains[base], colour) for f, swap, m in
                      given[colour]]
            best = max(trials, key=lambda t: (t["flips"], -t["outside_worst"], -t["magnitude"]))
            colours[colour] = {"block": block, "over": base, "steps_from": 0, "steps_to": None,
                               **{k: best[k] for k in ("feature", "label", "subtract", "strength", "magnitude",
                                                       "flips", "drawn", "outside_worst")}, "trials": trials}
            continue
        if base not in scans:
            scans[base] = scan_writes(model, scope, block, recipes[0], plains[base][0])
        writers = sorted((s for s in scans[base] if s["reads"] == colour and s["outside"] <= SCAN_OUTSIDE),
                         key=lambda s: (s["outside"], s["feature"]))
        candidates = list(dict.fromkeys([s["feature"] for s in writers[:SHORTLIST]] + by_label[colour][:1]))
        subtract = by_label[base][-1]                   # the object's own colour: its mean update's nearest feature
        trials = []
        for feature in candidates:
            for magnitude, swap in [(m, None) for m in magnitudes] + [(SWAP_MAGNITUDE, subtract)]:
                if swap == feature:
                    continue
                trial = _trial(model, scope, block, feature, swap, magnitude, recipes, plains[base], colour)
                trials.append(trial)
                if progress:
                    print(f"{colour}: {trial}", file=sys.stderr, flush=True)
        best = max(trials, key=lambda t: (t["flips"], -t["outside_worst"], -t["magnitude"]))
        colours[colour] = {"block": block, "over": base, "steps_from": 0, "steps_to": None,
                           **{k: best[k] for k in ("feature", "label", "subtract", "strength", "magnitude", "flips",
                                                   "drawn", "outside_worst")},
                           "writers": [s["feature"] for s in writers], "by_label": by_label[colour],
                           "trials": trials}
    return {"prompt": CALIBRATION_PROMPT, "seeds": list(seeds), "block": block, "scan_magnitude": SCAN_MAGNITUDE,
            "magnitudes": list(magnitudes), "swap_magnitude": SWAP_MAGNITUDE, "colours": colours}


def _trial(model, scope, block, feature, subtract, magnitude, recipes, plain, colour) -> dict:
    """One candidate paint on the calibration seeds (fast_images), as measure_paint reads it."""
    sae = scope.saes.get(block)
    mean = float(sae.mean[feature])
    strength = round(magnitude / (mean if mean > 0 else 1.0), 4)        # PaintHook's scale: 1 for a feature never fired
    boxes = [object_box(image, _cell(model, recipes[0], block)) for image in plain]
    drawn = [i for i, box in enumerate(boxes) if box is not None]
    paint = Paint(block, feature, boxes[drawn[0]], strength, 0, recipes[0].steps, subtract)
    hook = PaintHook(sae, paint, (recipes[0].height, recipes[0].width), recipes[0].guidance > 1,
                     [boxes[i] for i in drawn])
    images = fast_images(model, [recipes[i] for i in drawn], block, hook)
    after = [colour_in_box(image, boxes[i]) for i, image in zip(drawn, images)]
    flips = sum(a == colour and colour_in_box(plain[i], boxes[i]) != colour for i, a in zip(drawn, after))
    outside = [outside_changed(plain[i], image, boxes[i]) for i, image in zip(drawn, images)]
    return {"feature": feature, "label": scope.entry(block, feature)["label"], "subtract": subtract,
            "magnitude": magnitude, "strength": strength, "flips": int(flips), "drawn": len(drawn),
            "outside_worst": round(max(outside or [1.0]), 4), "after": after}


def main(argv: list[str] | None = None) -> int:
    """python -m explorer.inside.calibrate --calibrate: writes assets/miniworld/sae/paint_colours.json."""
    parser = argparse.ArgumentParser(prog="python -m explorer.inside.calibrate",
                                     description="choose each colour's paint feature by what it writes")
    parser.add_argument("--calibrate", action="store_true",
                        help="the command calibrates with or without it (kept: the shipped file's command names it)")
    parser.add_argument("--out", default=None, help=f"default: the model's {SAE_FOLDER}/{COLOURS_FILE}")
    parser.add_argument("--seeds", type=int, default=len(CALIBRATION_SEEDS),
                        help=f"calibration seeds from {CALIBRATION_SEEDS[0]} (default {len(CALIBRATION_SEEDS)})")
    parser.add_argument("--only", default="",
                        help="colour=FEATURE[-SUBTRACT]@MAGNITUDE,...: only these trials, no scan (a shortlist an "
                             "earlier scan found)")
    args = parser.parse_args(argv)
    given = None
    if args.only:
        given = {}
        for part in args.only.split(","):
            colour, feature, subtract, magnitude = re.fullmatch(r"(\w+)=(\d+)(?:-(\d+))?@([\d.]+)", part).groups()
            given.setdefault(colour, []).append((int(feature), int(subtract) if subtract else None, float(magnitude)))
    torch.set_num_threads(2)
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    record = {"command": "python -m explorer.inside.calibrate " + " ".join(argv if argv is not None else sys.argv[1:]),
              **calibrate(model, Microscope.for_model(model), seeds=tuple(range(CALIBRATION_SEEDS[0],
                                                                                  CALIBRATION_SEEDS[0] + args.seeds)),
                          progress=True, given=given)}
    out = Path(args.out) if args.out else model.folder / SAE_FOLDER / COLOURS_FILE
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for colour, chosen in record["colours"].items():
        print(f"{colour}: #{chosen['feature']} ({chosen['label']}) - {chosen['subtract']} x{chosen['strength']}: "
              f"{chosen['flips']} of {chosen['drawn']}, outside worst {chosen['outside_worst']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
