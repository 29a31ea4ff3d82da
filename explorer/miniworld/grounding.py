"""Do the attention maps point at the right place? Ground truth from the miniature world's pixel oracle.

For a prompt like "a red circle on the left", each generated picture's shape is found by the oracle
(explorer.world.oracle.foreground); a word's map (DAAM-style, aggregated over heads, layers and steps)
is compared with it: the share of the map's mass inside the shape, divided by the shape's share of the
image area. A model that attends uniformly scores 1.0; a word that attends to its object scores above 1.

    ratios = localisation(model, ["a red circle on the left"], seeds=4)
    ratios["shape"]          # one ratio per picture that shows a shape

And where: `centroid_offsets` measures how far the centroid of a word's map lies from the oracle's centroid of
the drawn shape, in latent cells (maps averaged with miniworld's 4 x 4 layers lay a median 0.89 cells off, from
its 8 x 8 layers 0.28: generation.attention.MIN_SIDE).
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from explorer.explore.attention import attend
from explorer.generation.attention import AttentionMaps, capture_attention, token_maps
from explorer.generation.recipe import recipe_defaults
from explorer.text import encoding
from explorer.world import oracle
from explorer.world.scenes import COLOURS, SHAPES, parse_caption


def cover_on_grid(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """A picture's boolean shape mask (H, W) as the share of each map cell it covers (grid)."""
    covered = torch.from_numpy(mask[None, None].astype(np.float32))
    return F.interpolate(covered, size=grid, mode="area")[0, 0].numpy()


def inside_over_area(attention: np.ndarray, cover: np.ndarray) -> float:
    """A map's mass inside the shape (weighted by cover) over the shape's share of the area: 1.0 = uniform."""
    area = float(cover.mean())
    return float((attention * cover).sum() / attention.sum()) / area


def localisation(model, prompts: list[str], seeds: int, steps: int | None = None) -> dict[str, list[float]]:
    """Per picture that shows a shape: inside_over_area of the colour word's and the shape word's maps."""
    ratios: dict[str, list[float]] = {"shape": [], "colour": []}
    for prompt, seed in itertools.product(prompts, range(seeds)):
        named = parse_caption(prompt)
        if named.get("colour") not in COLOURS or named.get("shape") not in SHAPES:
            raise ValueError(f"prompts: expected prompts naming a colour and a shape, received {prompt!r}")
        recipe = recipe_defaults(model, prompt, seed=seed, **({"steps": steps} if steps else {}))
        result = attend(model, recipe, watch=False)
        mask = oracle.foreground(np.asarray(result.generation.image.convert("RGB")))
        if mask.mean() == 0:
            continue                                                    # nothing drawn: nothing to point at
        views = result.prompt
        cover = cover_on_grid(mask, views.aggregate.shape[1:])
        for role in ("colour", "shape"):
            attention = views.aggregate[views.indices(named[role])].sum(axis=0).astype(np.float64)
            ratios[role].append(inside_over_area(attention, cover))
    return ratios


def centroid(attention: np.ndarray) -> np.ndarray:
    """(y, x) of a map's mass-weighted centroid, in its own cells (cell i spans [i, i + 1])."""
    ys, xs = np.mgrid[0:attention.shape[0], 0:attention.shape[1]]
    total = float(attention.sum())
    return np.array([((ys + 0.5) * attention).sum(), ((xs + 0.5) * attention).sum()]) / total


def centroid_offsets(model, prompt: str, seeds: int, steps: int, word: str | None = None,
                     guidance: float | None = None) -> np.ndarray:
    """(N, 2) (dy, dx) in latent cells from the oracle's shape centroid to the centroid of `word`'s map (default:
    the shape the prompt names), one row per picture that shows a shape. The seeds are drawn in one batched
    pipeline call (a fresh CPU generator per image, as a generation makes its noise) while the maps are captured."""
    word = word or parse_caption(prompt).get("shape")
    report = encoding.tokens(model, prompt)
    size = model.preset.size
    with model.lock, capture_attention(model, size, size) as store:
        images = model.pipe(prompt, num_images_per_prompt=seeds, num_inference_steps=steps,
                            guidance_scale=model.preset.guidance if guidance is None else guidance,
                            width=size, height=size, generator=[torch.Generator("cpu").manual_seed(s) for s in
                                                                range(seeds)],
                            callback_on_step_end=lambda pipe, i, t, kwargs: (store.end_step(), kwargs)[1]).images
    steps_maps = np.stack(store.steps)                                          # (S, R, T, h, w), R = 2 * seeds
    offsets = []
    for seed, image in enumerate(images):
        mask = oracle.foreground(np.asarray(image.convert("RGB")))
        if mask.sum() < oracle.MIN_AREA:
            continue                                                            # nothing drawn: nothing to point at
        row = steps_maps[:, [steps_maps.shape[1] - seeds + seed]]               # the prompt half, this image
        views = token_maps(AttentionMaps(row, ["prompt"], store.grid), report)
        attention = views.aggregate[views.indices(word)].sum(axis=0).astype(np.float64)
        shape_centre = centroid(cover_on_grid(mask, store.grid))
        offsets.append(centroid(attention) - shape_centre)
    return np.array(offsets).reshape(-1, 2)
