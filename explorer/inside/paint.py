"""Paint a feature into a box of the image while it is denoised (Surkov et al., utils/hooks.py
`add_feature_on_area_base_both`): at the chosen steps, the feature's unit decoder direction, scaled by its mean
activation times `strength`, is added to the block's output inside the box (the prompt half) and subtracted from
the unguided half, so classifier-free guidance pushes toward it; without guidance it is added to every row.

The hook rides the one generation path (generate(..., block_hooks=...)); a plain recipe calls the UNet once per
step, so the hook counts its calls as steps.

Measured against the oracle (`measure_paint`): paint a colour feature into the box around the drawn object;
does the oracle read the feature's colour inside the box, and how many pixels outside the box changed?
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import InputError
from explorer.generation.batches import render_recipes
from explorer.generation.conditioning import conditioning_for
from explorer.generation.generate import Generation, generate, hooked_blocks
from explorer.generation.invariant import decode_alone
from explorer.generation.noise import initial_noise, latent_shape, sampler_generator
from explorer.generation.recipe import Recipe, recipe_defaults
from explorer.generation.schedulers import scheduler_in_pipeline
from explorer.inside.features import make_probe_set
from explorer.inside.microscope import COLOURS_FILE, SAE_FOLDER, Microscope
from explorer.inside.sae import BlockSAEs, TopKSAE
from explorer.messages import say
from explorer.models.conditioning import Conditioning
from explorer.models.loading import load_model
from explorer.models.tiny_decoder import decoder_used
from explorer.world import oracle

DEFAULT_STRENGTH = 1.5          # times the feature's mean activation (the paper's UI starts at 10 for SDXL Turbo)
MAX_STRENGTH = 50.0
CHANGED = 32                    # a pixel "changed" when a channel moved by more than this (of 255)
EDGE = 1.0                      # weight of the box's outermost ring of cells (box_mask)


@dataclass(frozen=True)
class Paint:
    """What to paint: a block's feature, into a box (pixels, x1 and y1 exclusive), during steps [steps_from, steps_to)."""

    block: str
    feature: int
    box: tuple[int, int, int, int]
    strength: float = DEFAULT_STRENGTH
    steps_from: int = 0
    steps_to: int | None = None            # None: to the last step
    subtract: int | None = None            # a second feature of the block taken away at the same scale (a swap)


def parse_box(text: str) -> tuple[int, int, int, int]:
    """'x0,y0,x1,y1' -> four integers (a box's corners in pixels)."""
    try:
        box = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise InputError("box", say("sae.box_format"), text)
    return box  # type: ignore[return-value]


def check_paint(paint: Paint, saes: BlockSAEs, recipe: Recipe) -> Paint:
    """Every field checked, each refusal naming it: block, feature, box (inside the image), strength, steps."""
    saes.check_feature(paint.block, paint.feature)
    x0, y0, x1, y1 = paint.box
    if not (0 <= x0 < x1 <= recipe.width and 0 <= y0 < y1 <= recipe.height):
        raise InputError("box", say("sae.box_inside", width=recipe.width, height=recipe.height), paint.box)
    if isinstance(paint.strength, bool) or not isinstance(paint.strength, (int, float)) \
            or not -MAX_STRENGTH <= paint.strength <= MAX_STRENGTH:
        raise InputError("strength", say("checks.number_in", low=-MAX_STRENGTH, high=MAX_STRENGTH), paint.strength)
    steps_to = recipe.steps if paint.steps_to is None else paint.steps_to
    for name, value, low, high in (("steps_from", paint.steps_from, 0, recipe.steps - 1),
                                   ("steps_to", steps_to, paint.steps_from + 1, recipe.steps)):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InputError(name, say("checks.int_in", low=low, high=high, note=""), value)
    if paint.subtract is not None:
        try:
            saes.check_feature(paint.block, paint.subtract)
        except InputError as error:
            raise InputError("subtract", error.allowed, paint.subtract) from None
    return Paint(paint.block, paint.feature, paint.box, float(paint.strength), paint.steps_from, steps_to,
                 paint.subtract)


def box_mask(box: tuple[int, int, int, int], image: tuple[int, int], grid: tuple[int, int],
             edge: float = 1.0) -> torch.Tensor:
    """(h, w) float: the share of each of the block's cells that the pixel box covers; the box's outermost ring of
    cells inside it weighed by `edge` (1: a hard edge; less: a soft edge, the UNet's later layers spread the feature
    over the neighbouring cells themselves)."""
    x0, y0, x1, y1 = box
    pixels = torch.zeros(1, 1, *image)
    pixels[..., y0:y1, x0:x1] = 1
    cover = F.interpolate(pixels, size=grid, mode="area")
    if edge < 1:
        inner = -F.max_pool2d(-F.pad(cover, (1, 1, 1, 1), value=0.0), 3, stride=1)    # cells whose 8 neighbours are in
        cover = torch.where(inner > 0, cover, cover * edge)
    return cover[0, 0]


class PaintHook:
    """The forward hook of one block: adds the feature inside the box during [steps_from, steps_to).

    `boxes`: one box per image of a batched generation (generation.batches: rows [unguided..., prompt...]); by
    default the paint's own box for a one-image generation; `vectors` (N, C): each image its own painted vector
    instead of the paint's (the calibration's scan). The UNet runs once per step, so calls count steps."""

    def __init__(self, sae: TopKSAE, paint: Paint, image: tuple[int, int], guided: bool,
                 boxes: list[tuple[int, int, int, int]] | None = None, edge: float | None = None,
                 vectors: torch.Tensor | None = None):
        self.paint, self.image, self.guided, self.step = paint, image, guided, 0
        self.boxes = list(boxes) if boxes is not None else [paint.box]
        self.edge = EDGE if edge is None else edge
        scale = float(sae.mean[paint.feature]) if float(sae.mean[paint.feature]) > 0 else 1.0
        direction = sae.direction(paint.feature).detach()
        if paint.subtract is not None:                       # the swap: one feature out, the other in, one scale
            direction = direction - sae.direction(paint.subtract).detach()
        self.vector = direction * scale * paint.strength                                      # (C,)
        self.vectors = vectors

    def __call__(self, module, inputs, output):
        step, self.step = self.step, self.step + 1
        if not self.paint.steps_from <= step < self.paint.steps_to:
            return None
        sample = output[0] if isinstance(output, tuple) else output.sample
        masks = torch.stack([box_mask(box, self.image, tuple(sample.shape[-2:]), self.edge)
                             for box in self.boxes]).to(sample)                               # (N, h, w)
        vectors = self.vector[None] if self.vectors is None else self.vectors                 # (1 or N, C)
        add = vectors.to(sample)[:, :, None, None] * masks[:, None]                           # (N, C, h, w)
        sample = sample.clone()
        if self.guided:                                      # rows: unguided halves, then the prompt halves
            n = len(self.boxes)
            sample[:n] -= add
            sample[n:] += add
        else:
            sample += add
        return (sample, *output[1:]) if isinstance(output, tuple) else type(output)(sample=sample)


def paint_generate(model, recipe: Recipe, paint: Paint, saes: BlockSAEs, **kwargs) -> Generation:
    """The recipe's image with the feature painted in (generate's own path; bad input refused first)."""
    paint = check_paint(paint, saes, recipe)
    if recipe.prompt.count(" AND ") or "[" in recipe.prompt:
        raise InputError("prompt", say("sae.plain_prompt"), recipe.prompt)
    sae = saes.get(paint.block)
    width = block_width(model, paint.block)
    if width != sae.d_model:                     # an SAE trained on another model's block (SDXL's 1280 channels)
        raise InputError("block", say("sae.width", d_model=sae.d_model), f"{paint.block} ({width})")
    hook = PaintHook(sae, paint, (recipe.height, recipe.width), recipe.guidance > 1)
    return generate(model, recipe, block_hooks={paint.block: hook}, **kwargs)


def block_width(model, block: str) -> int | None:
    """The channels of a denoiser block's output (None: no such block)."""
    try:
        module = model.denoiser.get_submodule(block)
    except AttributeError:
        return None
    config = getattr(module, "config", None)
    return getattr(config, "in_channels", None)


def object_box(image: np.ndarray, cell: int) -> tuple[int, int, int, int] | None:
    """The drawn object's bounding box (pixels), grown to whole cells of `cell` pixels; None: nothing drawn."""
    mask = oracle.foreground(image)
    if mask.sum() < oracle.MIN_AREA:
        return None
    ys, xs = np.nonzero(mask)
    grow = lambda low, high: (int(low // cell * cell), int(min(image.shape[0], -(-(high + 1) // cell) * cell)))
    (x0, x1), (y0, y1) = grow(xs.min(), xs.max()), grow(ys.min(), ys.max())
    return x0, y0, x1, y1


def colour_in_box(image: np.ndarray, box: tuple[int, int, int, int]) -> str | None:
    """The oracle's colour reading of the pixels inside the box that differ from the background."""
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1].astype(np.float32)
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float32)
    away = np.linalg.norm(crop - np.median(border, axis=0), axis=-1) > oracle.FOREGROUND_DISTANCE
    if away.sum() < oracle.MIN_AREA:
        return None
    return oracle.nearest_colour(np.median(crop[away], axis=0))


def outside_changed(before: np.ndarray, after: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """The share of the pixels outside the box where some channel moved by more than CHANGED."""
    x0, y0, x1, y1 = box
    moved = np.abs(before.astype(np.int16) - after.astype(np.int16)).max(axis=-1) > CHANGED
    outside = np.ones(moved.shape, bool)
    outside[y0:y1, x0:x1] = False
    return float(moved[outside].mean())


@dataclass
class PaintTrial:
    seed: int
    box: tuple[int, int, int, int] | None
    before: str | None              # the colour the oracle reads in the box, plain generation
    after: str | None               # and painted
    outside: float                  # share of outside pixels changed

    def flipped(self, target: str) -> bool:
        return self.after == target and self.before != target


def measure_paint(model, saes: BlockSAEs, block: str, feature: int, recipes: list[Recipe],
                  strength: float = DEFAULT_STRENGTH, steps_from: int = 0, steps_to: int | None = None,
                  edge: float | None = None, plain: list[np.ndarray] | None = None,
                  subtract: int | None = None) -> list[PaintTrial]:
    """For each recipe (one prompt's seeds, shared settings): plain image, the object's box, the painted image; what
    the oracle reads inside the box. Both in one batched generation each (generation.batches; the painted batch is
    not checked against one-image paints); `plain`: the plain images when made already (several features, one seed
    set); `subtract`: a swap (Paint.subtract)."""
    if plain is None:
        plain = plain_images(model, recipes)
    boxes = [object_box(image, _cell(model, recipes[0], block)) for image in plain]
    drawn = [i for i, box in enumerate(boxes) if box is not None]
    trials = {i: PaintTrial(recipes[i].seed, None, None, None, 0.0) for i in range(len(recipes)) if boxes[i] is None}
    if drawn:
        paint = check_paint(Paint(block, feature, boxes[drawn[0]], strength, steps_from, steps_to, subtract), saes,
                            recipes[0])
        hook = PaintHook(saes.get(block), paint, (recipes[0].height, recipes[0].width), recipes[0].guidance > 1,
                         [boxes[i] for i in drawn], edge)
        with hooked_blocks(model.denoiser, {block: hook}):
            painted = render_recipes(model, [recipes[i] for i in drawn], batch_size=len(drawn))[0]
        for i, image in zip(drawn, painted):
            after = np.asarray(image.convert("RGB"))
            trials[i] = PaintTrial(recipes[i].seed, boxes[i], colour_in_box(plain[i], boxes[i]),
                                   colour_in_box(after, boxes[i]), outside_changed(plain[i], after, boxes[i]))
    return [trials[i] for i in range(len(recipes))]


def plain_images(model, recipes: list[Recipe]) -> list[np.ndarray]:
    """The recipes' images without paint, in one batch (RGB arrays)."""
    return [np.asarray(image.convert("RGB")) for image in render_recipes(model, recipes, batch_size=len(recipes))[0]]


def _cell(model, recipe: Recipe, block: str) -> int:
    """Pixels per cell of a block's grid: the latent's factor times the block's own downsampling."""
    depth = int(block.split(".")[1]) if block.startswith(("down_blocks", "up_blocks")) else None
    levels = len(model.denoiser.config.block_out_channels)
    if block.startswith("mid_block"):
        down = levels - 1
    elif block.startswith("down_blocks"):
        down = depth
    else:
        down = levels - 1 - depth
    return model.vae_scale_factor * 2 ** down


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


def base_colour(colour: str) -> str:
    """The colour of the object a colour is painted over: red, or blue when red itself is painted."""
    return "blue" if colour == "red" else "red"


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


def colour_paint(scope, colour: str, box: tuple[int, int, int, int], record: dict) -> Paint:
    """The calibrated paint of a colour into a box (record: the calibration file)."""
    if colour not in record.get("colours", {}):
        raise InputError("colour", say("checks.one_of", choices=", ".join(record.get("colours", {})) or "-"), colour)
    chosen = record["colours"][colour]
    return Paint(chosen["block"], chosen["feature"], box, chosen["strength"], chosen["steps_from"],
                 chosen["steps_to"], chosen["subtract"])


def main(argv: list[str] | None = None) -> int:
    """python -m explorer.inside.paint --calibrate: writes assets/miniworld/sae/paint_colours.json."""
    parser = argparse.ArgumentParser(prog="python -m explorer.inside.paint",
                                     description="choose each colour's paint feature by what it writes")
    parser.add_argument("--calibrate", action="store_true", required=True)
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
    record = {"command": "python -m explorer.inside.paint " + " ".join(argv if argv is not None else sys.argv[1:]),
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
