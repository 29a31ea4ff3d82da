"""The compute budget is an estimated cost (generation.cost): nothing admitted runs longer than one request may,
the defaults are admitted, a refusal names the field, the estimate and the limit."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.cost import estimate
from explorer.generation.recipe import check_budget, recipe_defaults
from explorer.models.presets import PRESETS


def _model(name: str, device: str = "cpu"):
    return SimpleNamespace(name=name, preset=PRESETS[name], device=torch.device(device))


@pytest.mark.parametrize("name", ["tiny-random", "tiny-random-xl", "miniworld", "sd15", "sd21-base", "sd-turbo",
                                  "sdxl-turbo"])
def test_the_defaults_are_admitted_on_a_cpu(name):
    model = _model(name)
    recipe = recipe_defaults(model, "a red fox")
    check_budget(recipe, model)
    assert estimate(model, recipe).total <= ExplorerConfig().request_seconds("cpu")


def test_every_default_and_the_largest_request_are_admitted_on_an_accelerator():
    for name in PRESETS:
        model = _model(name, "cuda")
        check_budget(recipe_defaults(model, "a red fox"), model)
        check_budget(recipe_defaults(model, "a red fox", width=1024, height=1024, steps=150), model)


def test_issue_33s_request_is_refused_naming_the_size_the_estimate_and_the_limit():
    """1024 x 1024 x 12 passed the pixels x steps budget; one step took 584 s on this CPU (tiny-random's VAE halves,
    so its latent is 512 x 512 cells: attention over 262,144 of them)."""
    model = _model("tiny-random")
    recipe = recipe_defaults(model, "a red fox", width=1024, height=1024, steps=12)
    with pytest.raises(InputError) as refused:
        check_budget(recipe, model)
    error = refused.value
    assert error.field == "width" and "900 s one request may take" in error.allowed
    assert "one step takes about" in error.allowed and error.received == "1024 x 1024"
    assert estimate(model, recipe).step > 900


def test_fewer_steps_fit_names_the_steps():
    model = _model("tiny-random")
    recipe = recipe_defaults(model, "a red fox", width=384, height=384, steps=150)
    cost = estimate(model, recipe)
    fitting = int((900 - cost.decode) // cost.step)
    assert 1 <= fitting < 150
    with pytest.raises(InputError, match=f"steps: expected at most {fitting} steps at 384 x 384 on a CPU"):
        check_budget(recipe, model)
    check_budget(recipe.with_(steps=fitting), model)                # and that many are admitted


def test_the_cost_grows_with_attention_guidance_and_previews():
    model = _model("tiny-random")
    small, large = (estimate(model, recipe_defaults(model, "a", width=s, height=s)).step for s in (128, 256))
    assert large > 4 * small                                     # 4x the cells, more than 4x the time (attention)
    plain = recipe_defaults(model, "a", width=256, height=256, preview="approx")
    assert estimate(model, plain.with_(guidance=1.0)).step < estimate(model, plain).step
    assert estimate(model, plain.with_(preview="full")).step > estimate(model, plain).step
