"""AUTOMATIC1111's `parameters` text read as A1111 reads it: mapped fields, everything else listed back."""
from __future__ import annotations

import pytest
from PIL import Image, PngImagePlugin

from explorer.errors import InputError
from explorer.generation.recipe import Recipe, validate
from explorer.outputs.a1111 import parse_parameters
from explorer.outputs.png import PARAMETERS_KEY, RECIPE_KEY, read_png, read_png_recipe, save_png, to_parameters

# Every field A1111's create_infotext writes for a txt2img with hires fix, a LoRA, a VAE and a variation seed,
# in its order; values with ',' ':' or a newline JSON-quoted as its quote() does.
FULL = (
    'masterpiece, a cat in a wizard hat, <lora:add_detail:0.8>\n'
    'sitting on a red sofa, "golden hour": soft light\n'
    'Negative prompt: blurry, lowres, bad hands\n'
    'Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, Size: 512x768, '
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, '
    'VAE: vae-ft-mse-840000-ema-pruned.safetensors, Variation seed: 1234567, Variation seed strength: 0.3, '
    'Denoising strength: 0.45, Clip skip: 2, Hires upscale: 2, Hires steps: 15, '
    'Hires upscaler: "4x-UltraSharp, v2: fast", Lora hashes: "add_detail: 7c6bad76eb54", '
    'Emphasis: "Original, no norm", Version: v1.10.1'
)
UNMAPPED = ["Model hash", "VAE hash", "VAE", "Denoising strength", "Clip skip", "Hires upscale", "Hires steps",
            "Hires upscaler", "Lora hashes", "Emphasis", "Version"]


def test_every_field_a1111_writes():
    parsed = parse_parameters(FULL)
    # the prompt spans two lines; the LoRA tag is removed as A1111 removes it before encoding
    assert parsed.prompt == 'masterpiece, a cat in a wizard hat, \nsitting on a red sofa, "golden hour": soft light'
    assert parsed.negative_prompt == "blurry, lowres, bad hands"
    assert parsed.steps == 28 and parsed.guidance == 6.5 and parsed.seed == 3141592653
    assert (parsed.sampler, parsed.schedule_type, parsed.scheduler) == ("DPM++ 2M", "Karras", "dpm++2m_karras")
    assert (parsed.width, parsed.height) == (512, 768)
    assert (parsed.variation_seed, parsed.variation_strength) == (1234567, 0.3)
    assert parsed.model == "v1-5-pruned-emaonly" and parsed.expression is None
    # quoted values are JSON-unquoted, commas and colons kept
    assert parsed.fields["Hires upscaler"] == "4x-UltraSharp, v2: fast"
    assert parsed.fields["Lora hashes"] == "add_detail: 7c6bad76eb54"
    # never silently dropped: every unmapped key, with its value, and the prompt's tag
    for key in UNMAPPED:
        assert key in parsed.ignored_keys, key
        assert f"{key}: {parsed.fields[key]}" in parsed.ignored
    assert "<lora:add_detail:0.8>" in parsed.ignored
    assert set(parsed.ignored_keys) == set(UNMAPPED) | {"<lora:add_detail:0.8>"}
    # and what will differ is said
    notes = " ".join(parsed.notes)
    for said in ("GPU", "Hires fix", "Clip skip", "lora"):     # the variation seed and Karras are reproduced
        assert said in notes, said
    assert "Karras" not in notes

    recipe = parsed.to_recipe()
    assert recipe == Recipe(model="v1-5-pruned-emaonly", prompt=parsed.prompt, negative_prompt=parsed.negative_prompt,
                            seed=3141592653, steps=28, guidance=6.5, width=512, height=768, scheduler="dpm++2m_karras",
                            variation_seed=1234567, variation_strength=0.3, variation_slerp="a1111")
    assert parsed.to_recipe("tiny-random").model == "tiny-random"
    validate(parsed.to_recipe("tiny-random"))            # a valid recipe once the model is one the explorer has


def test_a1111s_splitting_rules():
    # the last line counts as parameters only with at least three pairs; else it is prompt text
    short = parse_parameters("a photo of a cat\nStyle: noir, Mood: calm")
    assert short.prompt == "a photo of a cat\nStyle: noir, Mood: calm" and short.fields == {}
    assert short.ignored == [] and short.steps is None
    # the negative prompt runs over several lines until the parameters; lines are stripped
    text = "  a dog  \nNegative prompt:ugly\n  bad art\nSteps: 5, Sampler: Euler, Seed: 9"
    parsed = parse_parameters(text)
    assert (parsed.prompt, parsed.negative_prompt) == ("a dog", "ugly\nbad art")
    assert (parsed.steps, parsed.scheduler, parsed.seed) == (5, "euler", 9)
    # no negative prompt; a bare flag (written as its name alone) and a repeated key are listed, not lost
    parsed = parse_parameters("a fox\nSteps: 5, Sampler: Euler a, Tiling, Seed: 1, Seed: 2, NGMS: 0.5")
    assert parsed.negative_prompt == "" and parsed.seed == 2 and parsed.scheduler == "euler_a"
    assert "Tiling" in parsed.ignored and "NGMS: 0.5" in parsed.ignored
    assert any(entry.startswith("Seed: 1") for entry in parsed.ignored)
    # without a Model field, to_recipe uses the model's defaults for what the text does not say
    assert parse_parameters("just a prompt").to_recipe("tiny-random") == Recipe(
        model="tiny-random", prompt="just a prompt", steps=20, guidance=7.5, width=32, height=32, scheduler="ddim")


# A1111 >= 1.9: "Automatic" (or no Schedule type) is the sampler's own default, Karras for DPM++ 2M and DPM2;
# Karras and exponential schedules are reproduced (diffusers' use_karras_sigmas / use_exponential_sigmas): this
# table pinned them as "not reproduced" before issue 31
@pytest.mark.parametrize("sampler, schedule, scheduler, noted", [
    ("DDIM", None, "ddim", False), ("Euler", None, "euler", False), ("Euler a", "Automatic", "euler_a", False),
    ("DPM++ 2M", "Automatic", "dpm++2m_karras", False), ("DPM++ 2M", "Karras", "dpm++2m_karras", False),
    ("DPM++ 2M", None, "dpm++2m_karras", False), ("DPM++ 2M", "Uniform", "dpm++2m", False),
    ("DPM++ 2M Karras", None, "dpm++2m_karras", False),   # an older A1111 wrote the schedule into the name
    ("PLMS", None, "pndm", False), ("LMS", None, "lms", False), ("Euler", "Exponential", "euler_exponential", False),
    ("Euler", "Karras", "euler_karras", False), ("LMS Karras", None, "lms_karras", False),
    ("DPM2", "Automatic", "dpm2_karras", False), ("DPM2 a", "Uniform", "dpm2_a", False), ("Heun", None, "heun", False),
    ("UniPC", "Karras", "unipc", False),                 # a timestep sampler: A1111 ignores its schedule type
    ("DPM++ 2M SDE", "Automatic", "dpm++2m_sde_exponential", True),    # A1111's Brownian-tree noise: noted
    ("Euler a", "Karras", "euler_a", True),              # diffusers' Euler a has no Karras sigmas: noted
    ("DPM++ 2M", "SGM Uniform", "dpm++2m", True),
])
def test_samplers(sampler, schedule, scheduler, noted):
    text = f"a cat\nSteps: 20, Sampler: {sampler}, " + (f"Schedule type: {schedule}, " if schedule else "") + \
        "CFG scale: 7, Seed: 1, Size: 512x512, Model: tiny-random, RNG: CPU"
    parsed = parse_parameters(text)
    assert parsed.scheduler == scheduler and parsed.to_recipe().scheduler == scheduler
    assert bool(parsed.notes) == noted
    assert "Schedule type" not in parsed.ignored_keys          # used: it is mapped (with a note when it differs)


def test_unknown_sampler_takes_the_models_default_with_a_note():
    parsed = parse_parameters("a cat\nSteps: 20, Sampler: DPM++ SDE, Schedule type: Karras, Seed: 1, Size: 64x64")
    assert parsed.scheduler is None and "DPM++ SDE" in " ".join(parsed.notes)
    assert "Schedule type: Karras" in parsed.ignored                 # unused with an unknown sampler
    assert parsed.to_recipe("tiny-random").scheduler == "ddim"       # tiny-random's default
    assert parsed.to_recipe("sd15").scheduler == "euler_a"


@pytest.mark.parametrize("recipe", [
    Recipe(model="tiny-random", prompt="a cat, oil painting: detailed", negative_prompt="blurry, low quality",
           seed=2611690019, steps=20, guidance=7.0, width=512, height=640, scheduler="euler_a"),
    Recipe(model="org/model: v2", prompt="a dog", seed=0, steps=3, guidance=0.0, width=64, height=64,
           scheduler="pndm", variation_seed=77, variation_strength=0.25),
    Recipe(model="sd15", prompt="a house\non a hill", negative_prompt="fog\nrain", seed=5, steps=30, guidance=12.5,
           width=768, height=512, scheduler="dpm++2m"),
    Recipe(model="tiny-random", prompt='"van gogh" + astronaut', seed=1, scheduler="lms",
           expression='"van gogh" + astronaut'),
    Recipe(model="tiny-random", prompt="a cat", seed=1, scheduler="ddim"),
    Recipe(model="tiny-random", prompt="a cat", seed=1, scheduler="euler"),
])
def test_round_trip_through_the_explorers_own_text(recipe):
    parsed = parse_parameters(to_parameters(recipe))
    assert (parsed.steps, parsed.scheduler, parsed.guidance, parsed.seed) == (recipe.steps, recipe.scheduler,
                                                                               recipe.guidance, recipe.seed)
    assert (parsed.width, parsed.height) == (recipe.width, recipe.height)
    assert (parsed.prompt, parsed.negative_prompt) == (recipe.prompt, recipe.negative_prompt)
    assert parsed.variation_seed == recipe.variation_seed
    assert (parsed.variation_strength or 0.0) == recipe.variation_strength
    assert parsed.expression == recipe.expression and parsed.model == recipe.model
    assert parsed.ignored == [] and parsed.notes == []
    again = parsed.to_recipe()
    assert again == Recipe(model=recipe.model, prompt=recipe.prompt, negative_prompt=recipe.negative_prompt,
                           seed=recipe.seed, steps=recipe.steps, guidance=recipe.guidance, width=recipe.width,
                           height=recipe.height, scheduler=recipe.scheduler, expression=recipe.expression,
                           variation_seed=recipe.variation_seed, variation_strength=recipe.variation_strength)


def test_a_png_with_only_a1111_parameters_loads(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text(PARAMETERS_KEY, FULL)
    path = tmp_path / "a1111.png"
    Image.new("RGB", (64, 96), "blue").save(path, pnginfo=info)
    assert RECIPE_KEY not in Image.open(path).info
    recipe = read_png_recipe(path)
    assert recipe == parse_parameters(FULL).to_recipe()
    assert (recipe.steps, recipe.scheduler, recipe.seed, recipe.width, recipe.height) == (28, "dpm++2m_karras",
                                                                                          3141592653, 512, 768)
    same, listed = read_png(path)
    assert same == recipe
    for key in UNMAPPED:
        assert any(line.startswith(f"ignored: {key}: ") for line in listed), key
    assert "ignored: <lora:add_detail:0.8>" in listed
    assert not any("Karras" in line for line in listed)          # reproduced since issue 31
    # a PNG of the explorer's own (both chunks) is read from its JSON, with nothing ignored
    mine = Recipe(model="tiny-random", prompt="a cat", seed=3, width=64, height=64)
    assert read_png(save_png(Image.new("RGB", (64, 64)), mine, tmp_path)) == (mine, [])


@pytest.mark.parametrize("line, field, received", [
    ("Steps: abc, Sampler: Euler, Seed: 1", "Steps", "abc"),
    ("Steps: 20, Sampler: Euler, Seed: 1, Size: 12", "Size", "12"),
    ("Steps: 20, Sampler: Euler, Seed: 1, Size: 512x", "Size", "512x"),
    ("Steps: 20, Sampler: Euler, Seed: one", "Seed", "one"),
    ("Steps: 20, Sampler: Euler, CFG scale: high", "CFG scale", "high"),
    ("Steps: 20, Sampler: Euler, CFG scale: nan", "CFG scale", "nan"),
    ("Steps: 20, Sampler: Euler, Variation seed: x, Variation seed strength: 0.5", "Variation seed", "x"),
    ("Steps: 20, Variation seed: 3, Variation seed strength: lots", "Variation seed strength", "lots"),
])
def test_bad_values_name_the_field(line, field, received, tmp_path):
    with pytest.raises(InputError) as caught:
        parse_parameters("a cat\n" + line)
    assert caught.value.field == field and caught.value.received == received
    assert str(caught.value).startswith(f"{field}: expected ")
    info = PngImagePlugin.PngInfo()                              # and through a PNG, the same error
    info.add_text(PARAMETERS_KEY, "a cat\n" + line)
    Image.new("RGB", (8, 8)).save(tmp_path / "bad.png", pnginfo=info)
    with pytest.raises(InputError, match=f"^{field}: "):
        read_png_recipe(tmp_path / "bad.png")


def test_a1111_variation_seeds_use_a1111s_own_slerp_and_the_explorers_keep_theirs():
    import torch

    from explorer.generation.noise import a1111_slerp, initial_noise, seed_noise

    text = "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 11, Size: 64x64, Model: v1-5, " \
           "Variation seed: 7, Variation seed strength: 0.3, RNG: CPU"
    parsed = parse_parameters(text)
    recipe = parsed.to_recipe("tiny-random")
    assert recipe.variation_slerp == "a1111" and not any("Variation" in n for n in parsed.notes)
    shape = (1, 4, 8, 8)
    a, b = seed_noise(11, shape)[0], seed_noise(7, shape)[0]
    assert torch.equal(initial_noise(recipe, shape)[0], a1111_slerp(0.3, a, b))
    assert not torch.allclose(initial_noise(recipe.with_(variation_slerp="tensor"), shape), initial_noise(recipe, shape))
    assert torch.equal(a1111_slerp(0.0, a, b), a) and torch.allclose(a1111_slerp(1.0, a, b), b, atol=1e-5)
    column = a1111_slerp(0.5, a, b)[0, :, 3]              # one (channel, column) is slerped on its own
    expected = a1111_slerp(0.5, a[:1, :, 3:4], b[:1, :, 3:4])[0, :, 0]
    assert torch.allclose(column, expected, atol=1e-6)
    own = parse_parameters(to_parameters(Recipe(model="tiny-random", prompt="x", variation_seed=7,
                                                variation_strength=0.3)))
    assert own.to_recipe().variation_slerp == "tensor"                  # the explorer's PNG text keeps its noise
    with pytest.raises(InputError, match="variation_slerp"):
        validate(Recipe(model="m", prompt="x", variation_slerp="columns"))
