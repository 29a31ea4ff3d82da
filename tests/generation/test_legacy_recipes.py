"""PNGs written by the previous version (untyped `extra` recipes) load into typed recipes and regenerate exactly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.generation.generate import generate
from explorer.generation.recipe import Blend, Origin, Recipe, Variation
from explorer.outputs.png import read_png_recipe, save_png

LEGACY = Path(__file__).resolve().parents[1] / "assets" / "legacy"
PNGS = sorted(LEGACY.glob("*.png"))
MADE_WITH_THREADS = 2      # torch's threads on the 2-core machine that wrote them


@pytest.fixture(autouse=True)
def threads_as_made():
    """Regenerate with the threads the PNGs were made with: single-threaded, torch's CPU kernels split some sums
    differently, and a few pixels come out one level apart (seen with OMP_NUM_THREADS=1).
    Bit-for-bit regeneration holds for the same torch, CPU kind and thread count."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, MADE_WITH_THREADS))
    yield
    torch.set_num_threads(threads)


def test_there_is_one_png_per_kind_of_recipe():
    assert {p.stem for p in PNGS} >= {"plain", "plain-euler_a", "expression", "expression-token", "blend-lerp",
                                      "blend-slerp", "blend-and", "walk-prompt", "walk-seed", "search",
                                      "variation-chained", "axis"}


@pytest.mark.parametrize("path", PNGS, ids=[p.stem for p in PNGS])
def test_legacy_png_regenerates_its_own_pixels(tiny_model, path, tmp_path):
    recipe = read_png_recipe(path)
    image = generate(tiny_model, recipe, watch=False).image
    assert np.array_equal(np.asarray(image), np.asarray(Image.open(path).convert("RGB"))), path.stem
    # written again in this version's format, it reads back as the same typed recipe
    assert read_png_recipe(save_png(image, recipe, tmp_path)) == recipe


def test_legacy_fields_become_typed_fields():
    read = {p.stem: read_png_recipe(p) for p in PNGS}
    assert read["blend-slerp"].blend == Blend("slerp", "van Gogh", "astronaut", 0.5)
    assert read["blend-and"].blend == Blend("and", "van Gogh", "astronaut", weights=(1.0, 0.5))
    assert read["blend-lerp"].blend is None and read["blend-lerp"].expression        # remade from its expression
    walk = read["walk-prompt"].walk
    assert (walk.a, walk.b, walk.t, walk.frame, walk.of) == ("a red circle", '= "a blue square" + sea', 0.5, 1, 3)
    assert read["variation-chained"].variations == (Variation(200, 0.2),)
    assert read["search"].origin == Origin("search", query="a lighthouse at dawn", rank=1)
    assert read["axis"].origin == Origin("axis", pole_a="summer", pole_b="winter", amount=0.5)
    assert all(isinstance(r, Recipe) for r in read.values())
