"""The inversion view's handlers (explorer.ui.invert_view) called as the page calls them: plain values in,
{component: value} out, the figures as keyed messages (a German page reads them by key)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from explorer.errors import InputError
from explorer.messages import is_keyed
from explorer.ui import invert_view
from tests.ui.handlers import Request

UI = SimpleNamespace(**{name: name for name in invert_view.UI.__dataclass_fields__})    # outputs by their names


@pytest.fixture(scope="module")
def page(tiny_model, app_config, tmp_path_factory):
    path = tmp_path_factory.mktemp("view") / "p.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 32, 3), dtype=np.uint8)).save(path)
    return SimpleNamespace(model=tiny_model, config=app_config), str(path)


def test_invert_edit_and_walk_handlers(page):
    ctx, path = page
    out = invert_view.on_invert(ctx, UI, path, "a lighthouse", 2, 3.0, "ddim", "", Request("de-DE"))
    assert [caption for _, caption in out["pictures"]][0] == "original" and len(out["way_back"]) == 4
    assert len(out["pictures"]) == 2                                # no edit prompt: original and reconstruction
    assert is_keyed(out["status"]) and "dB" in out["figures"] and out["nearest"] == []   # tiny-random: no archive
    inversion = out["inversion"]
    assert inversion.recipe.steps == 2 and inversion.notes          # 32x40 resized, and said so
    with_edit = invert_view.on_invert(ctx, UI, path, "a lighthouse", 2, 3.0, "ddim", "a tower", Request("en"))
    assert len(with_edit["pictures"]) == 3 and "a tower" in with_edit["pictures"][2][1]    # the lesson's chapter:
    assert "a tower" in with_edit["status"] and is_keyed(with_edit["status"])            # inverted and edited at once
    edited = invert_view.on_edit(ctx, UI, inversion, "a tower", Request("en"))
    assert len(edited["pictures"]) == 3 and "a tower" in edited["status"]
    walked = invert_view.on_walk(ctx, UI, path, path, "a lighthouse", 2, 3.0, "ddim", 3, Request("en"))
    assert walked["walk_gif"].endswith(".gif") and walked["walk_curve"] is not None     # a picture to itself: one
    assert "3" in walked["status"]                                                     # still frame, 3 frames made


def test_no_picture_is_refused_naming_the_field(page):
    ctx, _ = page
    with pytest.raises(InputError) as refused:
        invert_view.on_invert(ctx, UI, None, "x", 2, 1.0, "ddim", "", Request("en"))
    assert refused.value.field == "image"
    with pytest.raises(InputError) as refused:
        invert_view.on_edit(ctx, UI, None, "x", Request("en"))
    assert refused.value.field == "image"
