"""The miniature world: generator, grammar, tokenizer, oracle, shipped weights and the training script."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from explorer.world import oracle  # noqa: E402
from explorer.miniworld.losses import (fit_latent_rgb, min_snr_weight, positives_matrix,  # noqa: E402
                                       token_grounding_loss)
from explorer.miniworld.tokenizer import build_tokenizer  # noqa: E402
from explorer.world.scenes import (COLOURS, HELD_OUT, POSITIONS, SHAPES, SIZES, Scene, check_held_out,  # noqa: E402
                                      make_dataset, make_paint_mixes, matches, parse_caption, render, vocabulary)

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "miniworld"
needs_assets = pytest.mark.skipif(not (ASSETS / "model_index.json").is_file(),
                                  reason="assets/miniworld not trained yet")


@pytest.fixture(scope="module")
def pipe():
    from diffusers import StableDiffusionPipeline

    loaded = StableDiffusionPipeline.from_pretrained(str(ASSETS), dtype=torch.float32)
    loaded.set_progress_bar_config(disable=True)
    return loaded


# --- the world ---------------------------------------------------------------------------------

def test_world_is_deterministic_and_covers_the_grammar():
    a, b = make_dataset(300, seed=3), make_dataset(300, seed=3)
    assert np.array_equal(a.images, b.images) and a.captions == b.captions
    assert a.images.shape == (300, 64, 64, 3) and a.images.dtype == np.uint8
    assert len(SHAPES) >= 4 and len(COLOURS) >= 6 and len(SIZES) >= 2 and len(POSITIONS) >= 5
    assert all(matches(parse_caption(c), s) for c, s in zip(a.captions, a.scenes))
    assert any(len(parse_caption(c)) < 4 for c in a.captions)          # some captions leave attributes out


def test_planted_bias_is_in_the_data():
    data = make_dataset(2000, seed=0)
    assert 0.68 < data.yellow_share("triangle") < 0.82                  # planted: 75%
    assert data.yellow_share("circle") < 0.3                            # other shapes: ~1/6
    assert data.uncoloured_caption_share() > 0.85                       # "a triangle" mostly shows yellow



def test_paint_mixes_lie_between_two_palette_colours_with_captions_that_differ_only_in_colour():
    mixes, again = make_paint_mixes(40, seed=1), make_paint_mixes(40, seed=1)
    assert np.array_equal(mixes.images, again.images) and mixes.captions_b == again.captions_b
    assert 0 <= mixes.weights.min() and mixes.weights.max() < 1 and mixes.weights.std() > 0.1
    for image, text_a, text_b, t in zip(mixes.images, mixes.captions_a, mixes.captions_b, mixes.weights):
        a, b = parse_caption(text_a), parse_caption(text_b)
        assert a.pop("colour") != b.pop("colour") and a == b, (text_a, text_b)
        paint = (1 - t) * np.array(COLOURS[parse_caption(text_a)["colour"]]) + t * np.array(
            COLOURS[parse_caption(text_b)["colour"]])
        assert np.abs(np.array(oracle.read(image).rgb) - paint).max() <= 1, (text_a, text_b, t)

def test_held_out_combinations_appear_in_no_image_caption_or_paint_mix_while_their_parts_do():
    data = make_dataset(3000, seed=0, held_out=HELD_OUT)
    mixes = make_paint_mixes(400, seed=10, held_out=HELD_OUT)
    seen = {f"{s.colour} {s.shape}" for s in data.scenes}
    assert seen.isdisjoint(HELD_OUT) and len(seen) == len(COLOURS) * len(SHAPES) - len(HELD_OUT)
    for text in [*data.captions, *mixes.captions_a, *mixes.captions_b]:
        named = parse_caption(text)
        assert f"{named.get('colour')} {named.get('shape')}" not in HELD_OUT, text
    for combo in HELD_OUT:                                  # each part is still there, with other partners
        colour, shape = combo.split()
        assert any(s.colour == colour for s in data.scenes) and any(s.shape == shape for s in data.scenes)
    assert 0.68 < data.yellow_share("triangle") < 0.82      # the planted bias is kept
    assert make_dataset(50, seed=0).captions != make_dataset(50, seed=0, held_out=HELD_OUT).captions


@pytest.mark.parametrize("bad", ["green", "green hexagon", "teal triangle", "yellow triangle", 3])
def test_held_out_names_colour_shape_pairs(bad):
    with pytest.raises(ValueError, match="held_out"):
        check_held_out([bad])


# --- tokenizer ---------------------------------------------------------------------------------

def test_tokenizer_makes_every_grammar_word_one_token_and_round_trips():
    tokenizer = build_tokenizer()
    assert all(tokenizer.tokenize(w) == [w + "</w>"] for w in vocabulary())
    text = "a small red circle on the left"
    assert tokenizer.tokenize(text) == [w + "</w>" for w in text.split()]
    ids = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length).input_ids
    assert len(ids) == 77 and ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    assert tokenizer.decode(tokenizer("a zebra").input_ids, skip_special_tokens=True) == "a zebra"  # bytes


# --- oracle ------------------------------------------------------------------------------------

def test_oracle_reads_the_generators_own_images():
    data = make_dataset(240, seed=11)
    for image, scene in zip(data.images, data.scenes):
        reading = oracle.read(image)
        assert reading.agrees(colour=scene.colour, shape=scene.shape, size=scene.size,
                              position=scene.position), (scene, reading)


def test_oracle_on_every_combination_and_on_blank_images():
    for shape in SHAPES:
        for colour in COLOURS:
            for size in SIZES:
                for position in POSITIONS:
                    assert oracle.read(render(Scene(shape, colour, size, position))).agrees(
                        shape=shape, colour=colour, size=size, position=position)
    blank = oracle.read(np.full((64, 64, 3), 240, np.uint8))
    assert blank.shape is None and np.isnan(oracle.hue_toward(blank.rgb))
    assert oracle.hue_toward(COLOURS["blue"]) == pytest.approx(1.0)
    assert oracle.hue_toward(COLOURS["red"]) < oracle.hue_toward(COLOURS["purple"]) < 1.0


# --- the app's examples on this model ----------------------------------------------------------

def test_every_view_starts_from_examples_the_miniature_world_knows():
    import re
    from types import SimpleNamespace

    from explorer.explore.probe import parse_attributes
    from explorer.models.examples import MINIWORLD, STABLE_DIFFUSION, examples_for
    from explorer.models.families import family_adapter
    from explorer.text.expressions import parse

    def on(family):
        return SimpleNamespace(adapter=family_adapter(family), preset=SimpleNamespace(max_steps=None))  # what examples_for reads

    assert examples_for(on("miniworld")) is MINIWORLD and examples_for(on("sd1")) is STABLE_DIFFUSION
    attributes = parse_attributes(MINIWORLD.attributes)
    assert list(attributes) == ["colour"] and len(attributes["colour"]) == len(COLOURS)
    for expression in MINIWORLD.expressions:
        parse(expression)                                                            # raises on a syntax error
    texts = [MINIWORLD.prompt, *MINIWORLD.expressions, *MINIWORLD.blend, *MINIWORLD.walk, MINIWORLD.query,
             *MINIWORLD.probe, *attributes["colour"], MINIWORLD.map_query, *MINIWORLD.poles, MINIWORLD.axis_prompt]
    unknown = set(re.findall(r"[a-z]+", " ".join(texts).lower())) - set(vocabulary())
    assert not unknown, f"words outside the grammar: {unknown}"


# --- training math -----------------------------------------------------------------------------

def test_training_math_on_analytic_cases():
    scenes = torch.tensor([[0, 1, 0, 2], [1, 1, 0, 2]])
    named = torch.tensor([[0, -1, -1, -1], [-1, 1, -1, -1]])               # "circle", "orange"
    assert positives_matrix(scenes, named).tolist() == [[True, True], [False, True]]
    alphas = torch.tensor([0.5, 5 / 6, 0.99])                               # SNR 1, 5, 99
    assert torch.allclose(min_snr_weight(alphas, 5.0), torch.tensor([1.0, 1.0, 5 / 99]), atol=1e-4)
    latents = torch.randn(10, 4, 8, 8)
    rgb = torch.einsum("nchw,cr->nrhw", latents, torch.arange(12.0).view(4, 3)) + 0.5
    factors, bias = fit_latent_rgb(latents, rgb)
    assert np.allclose(factors, np.arange(12.0).reshape(4, 3), atol=1e-3) and np.allclose(bias, 0.5, atol=1e-3)
    # TokenCompose's token loss: (1 - the map's mass inside the object)^2, over the supervised tokens only
    cover = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])                           # the object: one cell of four
    uniform = torch.full((1, 2, 4, 3), 1 / 3)                                   # (B, heads, q, T)
    tokens = torch.tensor([[False, True, False]])
    loss, inside = token_grounding_loss(uniform, tokens, cover)
    assert inside == pytest.approx(0.25) and loss == pytest.approx(0.75 ** 2)
    on_object = torch.zeros(1, 2, 4, 3)
    on_object[:, :, 0, :] = 1.0                                                 # every token looks at the object
    assert token_grounding_loss(on_object, tokens, cover)[0] == pytest.approx(0.0, abs=1e-6)
    assert token_grounding_loss(uniform, torch.zeros(1, 3, dtype=torch.bool), cover)[0] == 0  # nothing supervised


# --- the shipped model -------------------------------------------------------------------------

@needs_assets
def test_assets_load_offline_as_stable_diffusion(pipe):
    from transformers import CLIPModel

    index = json.loads((ASSETS / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline" and index["requires_safety_checker"] is False
    assert pipe.tokenizer.model_max_length == 77 and pipe.text_encoder.config.max_position_embeddings == 77
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size
    clip = CLIPModel.from_pretrained(str(ASSETS / "clip"))
    assert clip.config.vision_config.image_size == 64
    rgb = json.loads((ASSETS / "latent_rgb.json").read_text())
    assert np.array(rgb["factors"]).shape == (4, 3) and len(rgb["bias"]) == 3
    concepts = (ASSETS / "concepts.txt").read_text().splitlines()
    assert {"[colour]", "[shape]", "[size]", "[position]", "[phrase]"} <= set(concepts)
    size = sum(f.stat().st_size for f in ASSETS.rglob("*") if f.is_file())
    assert size <= 30 * 2**20, f"assets/miniworld is {size / 2**20:.1f} MB, the limit is 30 MB"
    assert not list(ASSETS.rglob("*.bin")), "weights must be safetensors"


@needs_assets
def test_generation_draws_what_was_asked(pipe):
    generators = [torch.Generator("cpu").manual_seed(s) for s in range(4)]
    images = pipe(["a large red circle in the middle"] * 4, num_inference_steps=15, guidance_scale=5.0,
                  generator=generators, output_type="np").images
    assert images.shape == (4, 64, 64, 3)
    readings = [oracle.read((image * 255).round().astype(np.uint8)) for image in images]
    assert sum(r.agrees(colour="red", shape="circle") for r in readings) >= 3, readings


@needs_assets
def test_halfway_between_two_colour_words_is_drawn_between_the_colours(pipe):
    """The paint mixes' promise: lerp("a red circle", "a blue circle", 0.5) draws neither end's colour."""
    (red, blue), _ = pipe.encode_prompt(["a red circle", "a blue circle"], torch.device("cpu"), 1, False)
    embeds = torch.stack([red, torch.lerp(red, blue, 0.5), blue]).repeat(4, 1, 1)        # (12, 77, d)
    negative, _ = pipe.encode_prompt([""] * 12, torch.device("cpu"), 1, False)
    generators = [torch.Generator("cpu").manual_seed(seed) for seed in range(4) for _ in range(3)]
    images = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, num_inference_steps=10,
                  guidance_scale=5.0, generator=generators, output_type="np").images
    readings = [oracle.read((image * 255).round().astype(np.uint8)) for image in images]
    ends = [(readings[i].colour, readings[i + 2].colour) for i in range(0, 12, 3)]
    halfway = [readings[i + 1].colour for i in range(0, 12, 3)]
    assert sum(end == ("red", "blue") for end in ends) >= 3, ends               # the ends as asked (colour: 93%)
    assert sum(colour not in ("red", "blue", None) for colour in halfway) >= 3, halfway


@needs_assets
def test_prompt_embeds_give_the_same_image_as_the_prompt(pipe):
    embeds, negative = pipe.encode_prompt("a blue square", torch.device("cpu"), 1, True, negative_prompt="")
    assert embeds.shape == (1, 77, pipe.text_encoder.config.hidden_size)
    kwargs = dict(num_inference_steps=4, guidance_scale=5.0, output_type="np")
    a = pipe("a blue square", generator=torch.Generator("cpu").manual_seed(1), **kwargs).images
    b = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative,
             generator=torch.Generator("cpu").manual_seed(1), **kwargs).images
    assert np.array_equal(a, b)


# --- the training script -----------------------------------------------------------------------

def test_training_script_smoke_run_produces_a_loadable_pipeline(tmp_path):
    from diffusers import StableDiffusionPipeline

    from explorer.miniworld.train import main

    main(["--out", str(tmp_path), "--quick"])
    for part in ("unet", "vae", "text_encoder", "tokenizer", "scheduler", "clip"):
        assert (tmp_path / part).is_dir(), part
    assert (tmp_path / "latent_rgb.json").is_file() and (tmp_path / "concepts.txt").is_file()
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["config"]["held_out"] == list(HELD_OUT) and record["config"]["grounding_weight"] > 0
    assert 0 <= record["grounding_last_200_steps"]["inside_share"] <= 1
    loaded = StableDiffusionPipeline.from_pretrained(str(tmp_path))
    loaded.set_progress_bar_config(disable=True)
    image = loaded("a red circle", num_inference_steps=2, output_type="np",
                   generator=torch.Generator("cpu").manual_seed(0)).images
    assert image.shape == (1, 64, 64, 3)
    # --resume reloads the saved CLIP and VAE: the folder it writes has the same configs and tokenizer files
    # (no path of a loaded part, no flags of a loaded tokenizer)
    texts = {p.relative_to(tmp_path): p.read_text() for p in tmp_path.rglob("*") if p.suffix in (".json", ".txt")
             and p.name not in ("training.json",)}
    main(["--out", str(tmp_path), "--quick", "--resume"])
    again = {p.relative_to(tmp_path): p.read_text() for p in tmp_path.rglob("*") if p.suffix in (".json", ".txt")
             and p.name not in ("training.json",)}
    assert again.keys() == texts.keys()
    assert [name for name in texts if again[name] != texts[name]] == []
