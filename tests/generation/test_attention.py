"""Cross-attention maps (DAAM-style): capture changes nothing, maps are the attention probabilities,
labels follow the tokenizer, memory is bounded; CLI and HTTP API."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer.cli import main
from explorer.errors import InputError
from explorer.explore.attention import attend
from explorer.generation.attention import (MAX_GRID, CapturingProcessor, _layer_shape, _Store, capture_attention,
                                           MIN_SIDE, map_grid, mass_inside, token_maps)
from explorer.generation.generate import generate
from explorer.generation.recipe import Blend, recipe_defaults


@pytest.fixture(scope="module")
def recipe(tiny_model):
    return recipe_defaults(tiny_model, "a red circle on the left", seed=2, steps=3, negative_prompt="blurry fog")


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_xl"])
def test_capture_changes_nothing_and_maps_are_probabilities(fixture, request):
    model = request.getfixturevalue(fixture)
    recipe = recipe_defaults(model, "a red circle on the left", seed=2, steps=3)
    plain = generate(model, recipe, watch=False)
    seen = generate(model, recipe, watch=False, attention=True)
    assert np.array_equal(np.asarray(plain.image), np.asarray(seen.image))      # the same pixels
    maps = seen.attention
    assert maps.rows == ["negative", "prompt"] and maps.steps.shape[:3] == (3, 2, 77)
    assert maps.steps.shape[3:] == maps.grid == map_grid(recipe.width, recipe.height, model.vae_scale_factor)
    np.testing.assert_allclose(maps.steps.sum(axis=2), 1.0, atol=1e-4)          # softmax over the tokens, per cell
    before = {k: type(v).__name__ for k, v in model.pipe.unet.attn_processors.items()}
    assert "CapturingProcessor" not in before.values()                         # restored after the run


def test_without_guidance_there_is_no_negative_half_and_and_has_one_row_per_prompt(tiny_model, recipe):
    assert generate(tiny_model, recipe.with_(guidance=1.0), watch=False, attention=True).attention.rows == ["prompt"]
    composed = recipe.with_(blend=Blend("and", "a red circle", "a blue square"))
    assert generate(tiny_model, composed, watch=False, attention=True).attention.rows == \
        ["negative", "prompt 1", "prompt 2"]


def test_recorded_probabilities_equal_the_attention_softmax(tiny_model):
    attn = next(m for name, m in tiny_model.pipe.unet.named_modules() if name.endswith("attn2"))
    store = _Store((4, 4), (4, 4))
    processor = CapturingProcessor(attn.processor, store)
    hidden = torch.randn(2, 16, attn.to_q.in_features, generator=torch.Generator().manual_seed(0))
    text = torch.randn(2, 77, attn.to_k.in_features, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = processor(attn, hidden, text)
        assert torch.equal(out, attn.processor(attn, hidden, text))              # output untouched
        q = attn.to_q(hidden).view(2, 16, attn.heads, -1).transpose(1, 2)
        k = attn.to_k(text).view(2, 77, attn.heads, -1).transpose(1, 2)
        probs = torch.softmax(q @ k.transpose(-1, -2) * attn.scale, dim=-1).mean(dim=1)     # (2, 16, 77)
    store.end_step()
    expected = probs.transpose(1, 2).reshape(2, 77, 4, 4).numpy()
    np.testing.assert_allclose(store.steps[0], expected, atol=1e-5)


def test_layers_too_coarse_to_place_a_word_are_left_out_where_finer_ones_exist():
    """Issue 26: miniworld's four 4 x 4 layers (of seven) blurred every word's map into one blob off the shape. A
    step's map is the mean of the layers at least MIN_SIDE cells wide; a UNet with none keeps all of its layers."""
    fine = torch.softmax(torch.randn(2, 1, 64, 77), dim=-1)                    # (R, heads, q = 8 x 8, T)
    coarse = torch.softmax(torch.randn(2, 1, 16, 77), dim=-1)                  # a 4 x 4 layer
    store = _Store((16, 16), (16, 16))
    for probs in (fine, coarse, coarse, fine):
        store.record(probs)
    store.end_step()
    expected = torch.nn.functional.interpolate(fine[:, 0].transpose(1, 2).reshape(2, 77, 8, 8), size=(16, 16),
                                               mode="bilinear", align_corners=False)
    assert MIN_SIDE == 8 and store.layers_per_step == 2
    np.testing.assert_allclose(store.steps[0], expected.numpy(), atol=1e-6)
    only_coarse = _Store((16, 16), (16, 16))
    only_coarse.record(coarse)
    only_coarse.end_step()
    assert only_coarse.layers_per_step == 1 and only_coarse.steps[0].shape == (2, 77, 16, 16)


def test_layer_shapes_and_bounded_grid():
    assert _layer_shape(9 * 6, 9, 6) == (9, 6) and _layer_shape(5 * 3, 9, 6) == (5, 3)     # odd sizes round up
    assert map_grid(1024, 1024, 8) == (MAX_GRID, MAX_GRID) and map_grid(512, 768, 8) == (43, MAX_GRID)


def test_capture_restores_processors_after_an_error(tiny_model):
    before = dict(tiny_model.pipe.unet.attn_processors)
    with pytest.raises(RuntimeError):
        with capture_attention(tiny_model, 64, 64):
            raise RuntimeError("boom")
    assert dict(tiny_model.pipe.unet.attn_processors) == before


def test_token_maps_label_words_pieces_and_padding(tiny_model, recipe):
    result = attend(tiny_model, recipe.with_(prompt="Sankt Martin"), watch=False)
    views = result.prompt
    assert views.labels[:5] == ["<|startoftext|>", "san", "kt</w>", "martin</w>", "<|endoftext|>"]
    assert views.labels[-1] == "padding (72 tokens)" and views.kinds[-1] == "pad"
    assert views.choices(special=False) == ["sankt", "martin"]
    np.testing.assert_allclose(views.word_steps("sankt"), views.steps[:, 1] + views.steps[:, 2], rtol=1e-6)
    assert abs(sum(views.mass().values()) - 1.0) < 1e-3
    shares, special = views.shares(), views.special()                       # words apart from start, end, padding
    assert list(shares) == ["sankt", "martin"] and abs(sum(shares.values()) - 1.0) < 1e-6
    assert list(special) == ["<|startoftext|>", "<|endoftext|>", "padding (72 tokens)"]
    mass = views.mass()
    assert shares["martin"] == pytest.approx(mass["martin"] / (mass["sankt"] + mass["martin"]))
    assert result.half("negative").labels[:3] == ["<|startoftext|>", "blurry</w>", "fog</w>"]
    with pytest.raises(InputError, match=r"^word: expected a word of the prompt"):
        views.indices("dragon")
    with pytest.raises(InputError, match=r"^step: expected an integer in \[1, 3\]"):
        views.step("martin", 3)
    with pytest.raises(InputError, match="recipe"):
        attend(tiny_model, recipe.with_(expression="king - man + woman"), watch=False)


def test_an_empty_negative_prompt_is_start_end_and_padding(tiny_model, recipe):
    maps = generate(tiny_model, recipe.with_(negative_prompt=""), watch=False, attention=True).attention
    views = token_maps(maps, None, "negative")
    assert views.labels == ["<|startoftext|>", "<|endoftext|>", "padding (75 tokens)"] and views.words == []


def test_mass_inside_tells_a_localised_map_from_a_uniform_one():
    mask = np.zeros((8, 8), bool)
    mask[:4, :4] = True                                            # a quarter of the image
    uniform = np.ones((8, 8))
    localised = np.where(mask, 3.0, 1.0)
    assert mass_inside(uniform, mask) == pytest.approx(0.25)        # a uniform map: the area share
    assert mass_inside(localised, mask) == pytest.approx(0.5)       # twice the area share


def test_cli_writes_overlays_strip_and_json(tmp_path, capsys):
    out = tmp_path / "att"
    assert main(["attention", "--model", "tiny-random", "--prompt", "a red circle", "--seed", "1", "--steps", "2",
                 "--out-dir", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert {"image.png", "steps.png", "attention.json"} <= set(names) and "word-02-circle.png" in names
    data = json.loads((out / "attention.json").read_text())
    assert data["tokens"][:4] == ["<|startoftext|>", "a</w>", "red</w>", "circle</w>"]
    assert len(data["maps"]) == len(data["tokens"]) and len(data["maps"][0]) == data["grid"][0]
    assert main(["attention", "--model", "tiny-random", "--prompt", "a red circle", "--steps", "1",
                 "--out-dir", str(out)]) == 2                       # never overwrites
    assert "out_dir" in capsys.readouterr().err


def test_api_attention_and_the_generate_views(client):
    data = client.predict("a red circle", "", 1, 2, 7.5, 64, 64, "ddim", api_name="/attention")
    assert data["tokens"][3] == "circle</w>" and len(data["maps"]) == len(data["tokens"]) and data["steps"] == 2
    assert list(data["shares"]) == ["a", "red", "circle"] and abs(sum(data["shares"].values()) - 1) < 1e-3
    assert list(data["special"]) == ["<|startoftext|>", "<|endoftext|>", "padding (72 tokens)"]
    with pytest.raises(Exception, match=r"steps: expected an integer in \[1, 50\], received 0"):
        client.predict("a red circle", "", 1, 0, 7.5, 64, 64, "ddim", api_name="/attention")


def test_and_terms_are_labelled_by_their_own_prompts_and_mixes_are_refused(tiny_model, recipe):
    composed = recipe.with_(prompt="a red circle AND a blue square",
                            blend=Blend("and", "a red circle", "a blue square"))
    result = attend(tiny_model, composed, watch=False)
    assert list(result.halves) == ["negative", "prompt 1", "prompt 2"]
    assert result.half("prompt 2").choices(special=False) == ["a", "blue", "square"]
    assert result.prompt is result.half("prompt 1")
    with pytest.raises(InputError, match="half"):
        result.half("prompt 3")
    with pytest.raises(InputError, match="recipe: expected a plain prompt or an AND blend"):
        attend(tiny_model, recipe.with_(blend=Blend("slerp", "a", "b")), watch=False)
