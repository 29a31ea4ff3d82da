"""Do the attention maps point at the right place? Ground truth from the miniature world's pixel oracle.

For prompts like "a red circle on the left" over many seeds: the share of the shape word's (and the
colour word's) map mass that falls inside the drawn shape (explorer.world.oracle.foreground),
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

from explorer.generation.attention import mass_inside  # noqa: E402
from explorer.miniworld.grounding import localisation  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402

PROMPTS = [f"a {colour} {shape} {where}" for colour, shape, where in itertools.product(
    ("red", "blue", "green"), ("circle", "square", "triangle"), ("on the left", "on the right", "at the top"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    ratios = localisation(model, PROMPTS, args.seeds, args.steps)
    for role, values in ratios.items():
        values = np.array(values)
        print(f"{role} word: map mass inside the shape / the shape's area share = {values.mean():.3f} "
              f"(median {np.median(values):.3f}, {len(values)} images; 1.0 = uniform attention)")
    assert mass_inside(np.ones((2, 2)), np.eye(2, dtype=bool)) == 0.5        # the measure itself


if __name__ == "__main__":
    main()
