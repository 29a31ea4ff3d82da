"""The Inside tab's handlers, called as the event layer calls them (plain values in, {component: value} out)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.inside.microscope import Microscope
from explorer.ui import inside_tab

UI = SimpleNamespace(**{name: name for name in ("pictures", "trace", "status", "painted", "paint_status")})


def test_paint_returns_the_painted_image_and_a_note(miniworld):
    ctx = SimpleNamespace(model=miniworld, config=ExplorerConfig())
    scope = Microscope.for_model(miniworld)
    out = inside_tab.on_paint(ctx, UI, scope, "up_blocks.1.attentions.0", 116.0, "a large red square in the middle",
                              1.0, "16,16,48,48", 1.5, 0.0, 25.0)
    assert out["painted"].size == (64, 64) and "colour:yellow" in str(out["paint_status"])


def test_a_model_without_saes_is_refused_naming_the_model(tiny_model):
    ctx = SimpleNamespace(model=tiny_model, config=ExplorerConfig())
    assert inside_tab.microscope(ctx) is None
    with pytest.raises(InputError) as error:
        inside_tab.on_show(ctx, UI, None, "mid_block.attentions.0", 1, "", 0)
    assert error.value.field == "model"
