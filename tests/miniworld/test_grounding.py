"""Ground truth for the attention maps (issue 14): on miniworld, a shape word's map lies on the drawn shape."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from explorer.miniworld.grounding import (centroid, centroid_offsets, cover_on_grid, inside_over_area,  # noqa: E402
                                         localisation)
from explorer.models.presets import MINIWORLD_DIR  # noqa: E402

PROMPTS = ["a red circle on the left", "a blue square on the right", "a yellow cross at the top",
           "a purple triangle at the bottom"]
SHAPE_WORD_FLOOR = 3.0       # map mass inside the shape / its area share; uniform attention scores 1.0


def test_the_measure_tells_a_localised_map_from_a_uniform_one():
    mask = np.zeros((64, 64), bool)
    mask[:32, :32] = True                                                  # a quarter of the picture
    cover = cover_on_grid(mask, (8, 8))
    assert cover.mean() == pytest.approx(0.25)
    assert inside_over_area(np.ones((8, 8)), cover) == pytest.approx(1.0)  # uniform attention: no information
    on_shape = np.where(cover > 0, 1.0, 0.0)
    assert inside_over_area(on_shape, cover) == pytest.approx(4.0)         # all the mass on a quarter of the area
    with pytest.raises(ValueError, match="prompts: expected prompts naming a colour and a shape"):
        localisation(None, ["a circle"], seeds=1)


@pytest.mark.skipif(not (MINIWORLD_DIR / "model_index.json").is_file(), reason="assets/miniworld not trained yet")
def test_shape_words_attend_inside_their_shape_on_miniworld(miniworld):
    model = miniworld                                       # the session's (tests/conftest.py)
    ratios = localisation(model, PROMPTS, seeds=3, steps=10)
    assert len(ratios["shape"]) >= 10                                       # pictures with a shape to point at
    shape, colour = float(np.mean(ratios["shape"])), float(np.mean(ratios["colour"]))
    assert shape >= SHAPE_WORD_FLOOR, (shape, ratios["shape"])              # a uniformly attending model fails
    assert colour >= SHAPE_WORD_FLOOR, (colour, ratios["colour"])


def test_the_centroid_is_the_mass_weighted_middle():
    mask = np.zeros((16, 16))
    mask[2:4, 6:10] = 1.0
    np.testing.assert_allclose(centroid(mask), [3.0, 8.0])               # cells 2-3 and 6-9: their middle


@pytest.mark.slow
@pytest.mark.skipif(not (MINIWORLD_DIR / "model_index.json").is_file(), reason="assets/miniworld not trained yet")
def test_the_shape_words_map_sits_on_the_drawn_shape(miniworld):
    """Issue 26: on "a red circle on the left" every word's map was one blob ~6 px (of 64) right of and below the
    circle. With miniworld's 4 x 4 layers averaged in, the shape word's centroid lay within one latent cell of the
    oracle's shape centroid in 9 of 16 seeds (56%, median 0.89 cells); from the 8 x 8 layers, in 14 of 16 (88%,
    median 0.28 cells; 10 steps, one batched run). Slow: 16 pictures with their maps (~1 min on 2 idle cores)."""
    model = miniworld                                       # the session's (tests/conftest.py)
    offsets = centroid_offsets(model, "a red circle on the left", seeds=16, steps=10)
    distances = np.linalg.norm(offsets, axis=1)
    assert len(distances) >= 12                                             # pictures with a shape to point at
    assert (distances <= 1.0).mean() >= 0.75, np.round(distances, 2)        # within one latent cell (4 px)
