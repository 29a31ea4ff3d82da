"""Do the attention maps point at the right place? Ground truth from the miniature world's pixel oracle.

For prompts like "a red circle on the left" over many seeds: the share of the shape word's (and the
colour word's) map mass that falls inside the drawn shape (explorer.miniworld.oracle.foreground),
against the shape's share of the image area. A model that localises its words gives a ratio well
above 1; a model that attends uniformly gives 1.0. Usage: python bench/attention_ground_truth.py [--seeds 6]
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from explorer.explore.attention import attend  # noqa: E402
from explorer.generation.attention import mass_inside  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.miniworld import oracle  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402

PROMPTS = [f"a {colour} {shape} {where}" for colour, shape, where in itertools.product(
    ("red", "blue", "green"), ("circle", "square", "triangle"), ("on the left", "on the right", "at the top"))]


def mask_on_grid(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The image's shape mask as the fraction of each map cell it covers."""
    covered = torch.from_numpy(mask[None, None].astype(np.float32))
    return F.interpolate(covered, size=grid, mode="area")[0, 0].numpy()


def measure(model, prompts: list[str], seeds: int, steps: int | None = None) -> dict[str, list[float]]:
    """Per image: inside-share / area-share for the shape word and the colour word (images with a shape only)."""
    ratios: dict[str, list[float]] = {"shape": [], "colour": []}
    for prompt, seed in itertools.product(prompts, range(seeds)):
        recipe = recipe_defaults(model, prompt, seed=seed, **({"steps": steps} if steps else {}))
        result = attend(model, recipe, watch=False)
        mask = oracle.foreground(np.asarray(result.generation.image.convert("RGB")))
        if mask.mean() == 0:
            continue
        views = result.prompt
        cover = mask_on_grid(mask, views.aggregate.shape[1:])
        area = float(cover.mean())
        for role, word in (("colour", prompt.split()[1]), ("shape", prompt.split()[2])):
            attention = views.aggregate[views.indices(word)].sum(axis=0).astype(np.float64)
            inside = float((attention * cover).sum() / attention.sum())
            ratios[role].append(inside / area)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    ratios = measure(model, PROMPTS, args.seeds, args.steps)
    for role, values in ratios.items():
        values = np.array(values)
        print(f"{role} word: map mass inside the shape / the shape's area share = {values.mean():.3f} "
              f"(median {np.median(values):.3f}, {len(values)} images; 1.0 = uniform attention)")
    assert mass_inside(np.ones((2, 2)), np.eye(2, dtype=bool)) == 0.5        # the measure itself


if __name__ == "__main__":
    main()
