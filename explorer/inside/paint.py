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

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import InputError
from explorer.generation.batches import render_recipes
from explorer.generation.generate import Generation, generate, hooked_blocks
from explorer.generation.recipe import Recipe
from explorer.inside.sae import BlockSAEs, TopKSAE
from explorer.messages import say
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


def base_colour(colour: str) -> str:
    """The colour of the object a colour is painted over: red, or blue when red itself is painted."""
    return "blue" if colour == "red" else "red"


def colour_paint(colour: str, box: tuple[int, int, int, int], record: dict) -> Paint:
    """The calibrated paint of a colour into a box (record: the calibration file)."""
    if colour not in record.get("colours", {}):
        raise InputError("colour", say("checks.one_of", choices=", ".join(record.get("colours", {})) or "-"), colour)
    chosen = record["colours"][colour]
    return Paint(chosen["block"], chosen["feature"], box, chosen["strength"], chosen["steps_from"],
                 chosen["steps_to"], chosen["subtract"])
