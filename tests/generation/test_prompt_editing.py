"""A1111 prompt editing on the one generation path: the conditioning switched during denoising, bit-identical to
A1111's schedule run by hand (the plain prompts' conditionings, switched by A1111's reconstruct_cond_batch rule,
in a denoising loop written here); batches, the view's row and the CLI take the same path; refusals name the field."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from explorer.errors import InputError
from explorer.explore.swaps import swap_row
from explorer.generation.batches import render_recipes
from explorer.generation.conditioning import conditioning_for
from explorer.generation.generate import generate
from explorer.generation.recipe import Recipe, WalkFrame, recipe_defaults
from explorer.generation.schedulers import scheduler_in_pipeline


def a1111_entry(entries, step):
    """A1111's reconstruct_cond_batch (modules/prompt_parser.py), for one prompt: the entry of step `step`."""
    target_index = 0
    for current, (end_at_step, _) in enumerate(entries):
        if step <= end_at_step:
            target_index = current
            break
    return entries[target_index][1]


@torch.no_grad()
def by_hand(model, recipe: Recipe, entries: list) -> torch.Tensor:
    """The final latent of a denoising loop written out (the pipeline's steps: CFG, scale_model_input, UNet,
    scheduler.step), reading at step i the Conditioning A1111 takes there; entries: [(end_at_step, Conditioning)]."""
    pipe = model.pipe
    with scheduler_in_pipeline(model, recipe.scheduler) as scheduler:
        scheduler.set_timesteps(recipe.steps, device=model.device)
        generator = torch.Generator("cpu").manual_seed(recipe.seed)
        first = entries[0][1]
        x = pipe.prepare_latents(1, pipe.unet.config.in_channels, recipe.height, recipe.width,
                                 first.prompt_embeds.dtype, model.device, generator, None)
        step_kwargs = pipe.prepare_extra_step_kwargs(generator, 0.0)
        for i, t in enumerate(scheduler.timesteps):
            c = a1111_entry(entries, i)
            extra = model.adapter.unet_kwargs(pipe, c, recipe.height, recipe.width, 2)
            x_in = scheduler.scale_model_input(torch.cat([x] * 2), t)
            eps = pipe.unet(x_in, t, encoder_hidden_states=torch.cat([c.negative_prompt_embeds, c.prompt_embeds]),
                            return_dict=False, **extra)[0]
            uncond, cond = eps.chunk(2)
            x = scheduler.step(uncond + recipe.guidance * (cond - uncond), t, x, **step_kwargs, return_dict=False)[0]
    return x


def final_latent(model, recipe: Recipe, monkeypatch) -> torch.Tensor:
    """generate()'s final latent, as it goes to the VAE."""
    seen = []
    generate_module = sys.modules["explorer.generation.generate"]
    real = generate_module.decode_alone
    monkeypatch.setattr(generate_module, "decode_alone", lambda m, latents, *size: seen.append(latents) or real(m, latents, *size))
    generate(model, recipe, watch=False)
    return seen[-1]


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_xl"])
def test_editing_is_a1111s_schedule_run_by_hand(fixture, request, monkeypatch):
    model = request.getfixturevalue(fixture)
    size = max(64, model.adapter.min_size // 8)
    base = recipe_defaults(model, "a red circle", seed=3, steps=4, width=size, height=size, guidance=6.0,
                           negative_prompt="blurry")
    plain = {text: conditioning_for(model, base.with_(prompt=text)) for text in ("a red circle", "a blue square")}
    edited = base.with_(prompt="a [red circle:blue square:1]")
    entries = [(1, plain["a red circle"]), (4, plain["a blue square"])]          # A1111: [[1, ...], [4, ...]]
    ours = final_latent(model, edited, monkeypatch)
    assert torch.equal(ours, by_hand(model, edited, entries))
    for text in plain:                                                           # it did switch
        assert not torch.equal(ours, final_latent(model, base.with_(prompt=text), monkeypatch))


def test_alternation_and_a_scheduled_negative_by_hand(tiny_model, monkeypatch):
    base = recipe_defaults(tiny_model, "a circle", seed=5, steps=4, guidance=5.0)
    plain = {(p, n): conditioning_for(tiny_model, base.with_(prompt=p, negative_prompt=n))
             for p in ("a red circle", "a blue circle") for n in ("dark", "bright")}
    recipe = base.with_(prompt="a [red|blue] circle", negative_prompt="[dark:bright:2]")
    # A1111: prompt [[1, red], [2, blue], [3, red], [4, blue]], negative [[2, dark], [4, bright]], each on its own
    entries = [(1, plain["a red circle", "dark"]), (2, plain["a blue circle", "dark"]),
               (3, plain["a red circle", "bright"]), (4, plain["a blue circle", "bright"])]
    assert torch.equal(final_latent(tiny_model, recipe, monkeypatch), by_hand(tiny_model, recipe, entries))


def test_batches_run_an_edited_recipe_alone_with_the_same_pixels(tiny_model):
    base = recipe_defaults(tiny_model, "a red circle", seed=2, steps=3)
    recipes = [base.with_(prompt="a [red:blue:1] circle"), base]
    images, cancelled = render_recipes(tiny_model, recipes, batch_size=2)
    assert not cancelled
    for image, recipe in zip(images, recipes):
        assert np.array_equal(np.asarray(image), np.asarray(generate(tiny_model, recipe, watch=False).image))


def test_earlier_recipes_keep_reading_to_when_as_emphasis(tiny_xl):
    old = Recipe.from_dict({"model": tiny_xl.name, "prompt": "a [sunset:2] sky", "emphasis": "a1111", "steps": 4})
    assert old.prompt_editing is False and not conditioning_for(tiny_xl, old).scheduled
    assert conditioning_for(tiny_xl, old.with_(prompt_editing=True)).scheduled


@pytest.mark.parametrize("changes,field", [
    (dict(prompt="a [cat:dog:9]"), "prompt"),
    (dict(negative_prompt="[a:b:c:3]"), "negative_prompt"),
    (dict(prompt="a [cat:dog:2", negative_prompt=""), "prompt"),
    (dict(walk=WalkFrame(a="[cat:dog:2]", b="a dog", t=0.5)), "prompts"),
])
def test_bad_editing_is_refused_naming_the_field(tiny_model, changes, field):
    recipe = recipe_defaults(tiny_model, "a cat", steps=4).with_(**changes)
    with pytest.raises(InputError) as info:
        generate(tiny_model, recipe, watch=False)
    assert info.value.field == field


def test_the_swap_row_ends_in_the_plain_prompts(tiny_model):
    base = recipe_defaults(tiny_model, "a red circle", seed=1, steps=3)
    row = swap_row(tiny_model, base, "red", "blue", 3, watch=True)
    assert [s.k for s in row] == [0, 1, 2] and [s.new_steps for s in row] == [3, 1, 0]
    assert [s.generation.recipe.prompt for s in row] == [f"a [red:blue:{k}] circle" for k in (0, 1, 2)]
    assert all(len(s.generation.steps) == 3 for s in row)                       # each with its step gallery
    pixels = [np.asarray(s.generation.image) for s in row]
    blue = np.asarray(generate(tiny_model, base.with_(prompt="a blue circle"), watch=False).image)
    red = np.asarray(generate(tiny_model, base, watch=False).image)
    assert np.array_equal(pixels[0], blue) and np.array_equal(pixels[2], red)
    assert not np.array_equal(pixels[1], blue) and not np.array_equal(pixels[1], red)


def test_the_cli_generates_editing_and_the_swap_row(tmp_path, capsys):
    from explorer.cli import main

    assert main(["generate", "--model", "tiny-random", "--prompt", "a [red:blue:1] circle", "--steps", "3",
                 "--seed", "1", "--out", str(tmp_path / "edited.png")]) == 0
    assert main(["swap-row", "--model", "tiny-random", "--prompt", "a red circle", "--old", "red", "--new", "blue",
                 "--count", "2", "--steps", "2", "--out", str(tmp_path / "row.png"),
                 "--outputs", str(tmp_path / "out")]) == 0
    assert (tmp_path / "row.png").is_file() and len(list((tmp_path / "out").rglob("*.png"))) == 2
    assert main(["swap-row", "--model", "tiny-random", "--prompt", "a red circle", "--old", "green", "--new", "blue",
                 "--out", str(tmp_path / "row2.png"), "--outputs", str(tmp_path / "out")]) == 2
    assert "swap_from" in capsys.readouterr().err


def test_an_a1111_text_with_editing_reads_as_editing(tiny_model):
    from explorer.outputs.a1111 import parse_parameters

    text = "a [cat:dog:0.5] on a mat\nNegative prompt: [blurry|dark]\nSteps: 4, Sampler: DDIM, CFG scale: 7, Seed: 1"
    recipe = parse_parameters(text).to_recipe(tiny_model.name)
    assert recipe.prompt == "a [cat:dog:0.5] on a mat" and recipe.prompt_editing
    conditioning = conditioning_for(tiny_model, recipe)
    assert [end for end, _ in conditioning.schedule] == [1, 2, 3, 4]         # the negative alternates every step
