"""Do the attention maps point at the right place? Ground truth from the miniature world's pixel oracle.

For a prompt like "a red circle on the left", each generated picture's shape is found by the oracle
(explorer.miniworld.oracle.foreground); a word's map (DAAM-style, aggregated over heads, layers and steps)
is compared with it: the share of the map's mass inside the shape, divided by the shape's share of the
image area. A model that attends uniformly scores 1.0; a word that attends to its object scores above 1.

    ratios = localisation(model, ["a red circle on the left"], seeds=4)
    ratios["shape"]          # one ratio per picture that shows a shape
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from explorer.explore.attention import attend
from explorer.generation.recipe import recipe_defaults
from explorer.miniworld import oracle
from explorer.miniworld.world import COLOURS, SHAPES, parse_caption


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
