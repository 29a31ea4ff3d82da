"""SDXL through the library on tiny-random-xl: the real StableDiffusionXLPipeline classes, tiny configs.

Every view of the explorer runs on it; generation is bit-identical to calling the pipeline.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.concepts.axes import make_axis, rank_vocabulary
from explorer.concepts.index import ConceptIndex
from explorer.concepts.neighbors import nearest_concepts
from explorer.concepts.projection import concept_map, query_points
from explorer.concepts.vocabularies import Vocabulary, builtin_vocabulary
from explorer.errors import InputError
from explorer.explore.blends import OPERATORS, compare
from explorer.explore.curves import response_curves
from explorer.explore.probe import bias_probe, parse_attributes
from explorer.explore.search import more_like_this, search
from explorer.explore.walks import interpolate
from explorer.generation.conditioning import conditioning_for
from explorer.generation.forward import forward_process
from explorer.generation.generate import generate
from explorer.generation.recipe import Blend, recipe_defaults
from explorer.generation.schedulers import make_scheduler
from explorer.models.examples import examples_for
from explorer.models.families import SDXL_LATENT_RGB, TOKENS
from explorer.models.loaded import LoadedModel
from explorer.models.loading import load_model
from explorer.models.presets import PRESETS, resolve_preset
from explorer.models.previews import available_decoders
from explorer.models.vae import decode
from explorer.models.vision import load_vision
from explorer.outputs.png import read_png_recipe, save_png, to_parameters
from explorer.text import encoding
from explorer.text.arithmetic import evaluate
from explorer.text.tokens import inspect_tokens

PIXEL_TOL = 2          # batched vs one-at-a-time UNet passes: float rounding only (see tests/explore/test_walks.py)


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _plain(model, prompt, negative=None, **settings):
    """The image StableDiffusionXLPipeline makes itself for the same settings."""
    pipe = model.pipe
    pipe.scheduler = make_scheduler(settings.pop("scheduler"), model.base_scheduler_config)
    seed = settings.pop("seed")
    with torch.inference_mode():
        return pipe(prompt, negative_prompt=negative, generator=torch.Generator("cpu").manual_seed(seed),
                    **settings).images[0]


# --- the model --------------------------------------------------------------------------------------
def test_tiny_random_xl_is_the_real_sdxl_architecture(tiny_xl):
    pipe = tiny_xl.pipe
    assert type(pipe).__name__ == "StableDiffusionXLPipeline" and tiny_xl.family == "tiny-xl"
    assert pipe.unet.config.addition_embed_type == "text_time"
    assert type(pipe.text_encoder).__name__ == "CLIPTextModel"
    assert type(pipe.text_encoder_2).__name__ == "CLIPTextModelWithProjection"
    assert pipe.tokenizer.pad_token == "<|endoftext|>" and pipe.tokenizer_2.pad_token == "!"
    assert pipe.config.force_zeros_for_empty_prompt
    assert tiny_xl.latent_rgb == SDXL_LATENT_RGB and pipe.vae.config.scaling_factor == pytest.approx(0.13025)


def test_sdxl_presets_and_detection_from_the_models_files(tiny_xl, tmp_path):
    assert PRESETS["sdxl"].family == "sdxl" and PRESETS["sdxl"].source == "stabilityai/stable-diffusion-xl-base-1.0"
    turbo = PRESETS["sdxl-turbo"]
    assert (turbo.family, turbo.steps, turbo.guidance, turbo.size, turbo.max_steps) == ("sdxl", 1, 0.0, 512, 4)
    assert resolve_preset("someone/my-sdxl-finetune").family == "sdxl"       # guessed; loading reads model_index
    tiny_xl.pipe.save_pretrained(tmp_path / "my-xl")
    assert resolve_preset(str(tmp_path / "my-xl")).family == "sdxl"          # model_index.json's _class_name
    loaded = load_model(str(tmp_path / "my-xl"), fallback=False)
    assert type(loaded.pipe).__name__ == "StableDiffusionXLPipeline" and loaded.adapter.min_size == 512


# --- generation: bit-identical to the pipeline --------------------------------------------------------
@pytest.mark.parametrize("scheduler", ["ddim", "euler", "euler_a", "dpm++2m", "pndm", "lms"])
def test_generation_is_bit_identical_to_the_pipeline(tiny_xl, scheduler):
    for negative in ("", "blurry"):      # "" = no negative prompt: zeros (force_zeros_for_empty_prompt), as diffusers
        recipe = recipe_defaults(tiny_xl, "a red circle", seed=3, steps=3, scheduler=scheduler,
                                 negative_prompt=negative)
        ours = generate(tiny_xl, recipe, watch=False).image
        theirs = _plain(tiny_xl, "a red circle", negative or None, num_inference_steps=3, guidance_scale=5.0,
                        width=64, height=64, scheduler=scheduler, seed=3)
        assert np.array_equal(_pixels(ours), _pixels(theirs)), (scheduler, negative)


def test_size_conditioning_and_watching_change_nothing(tiny_xl):
    recipe = recipe_defaults(tiny_xl, "a lighthouse", seed=1, steps=3, width=96, height=64)
    watched = generate(tiny_xl, recipe, watch=True)
    theirs = _plain(tiny_xl, "a lighthouse", num_inference_steps=3, guidance_scale=5.0, width=96, height=64,
                    scheduler="euler", seed=1)
    assert watched.image.size == (96, 64) and np.array_equal(_pixels(watched.image), _pixels(theirs))
    scale = tiny_xl.vae_scale_factor
    assert len(watched.steps) == 3 and watched.steps[0].x0.shape == (64 // scale, 96 // scale, 3)
    full = generate(tiny_xl, recipe.with_(preview="full"), watch=True)
    assert full.steps[-1].x0.shape == (64, 96, 3) and np.array_equal(_pixels(full.image), _pixels(theirs))
    conditioning = conditioning_for(tiny_xl, recipe)
    assert conditioning.prompt_embeds.shape == (1, TOKENS, 64) and conditioning.pooled_prompt_embeds.shape == (1, 32)
    assert not conditioning.negative_prompt_embeds.any() and not conditioning.negative_pooled_prompt_embeds.any()


def test_decoders_offered_per_family(tiny_xl):
    assert available_decoders(tiny_xl) == ("approx", "live", "full")           # no tiny decoder for a random model
    sdxl = LoadedModel(tiny_xl.pipe, "sdxl", PRESETS["sdxl"], tiny_xl.device, tiny_xl.dtype)
    assert sdxl.adapter.taesd == "madebyollin/taesdxl" and "taesd" in available_decoders(sdxl)


def test_float16_vae_is_upcast_as_the_pipeline_does(tiny_xl):
    vae = tiny_xl.pipe.vae
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    reference = decode(tiny_xl.pipe, latents)
    vae.config.force_upcast = True
    vae.to(torch.float16)
    try:
        upcast = decode(tiny_xl.pipe, latents.half())
        assert vae.dtype == torch.float16 and upcast.dtype == torch.float32     # decoded in float32, then restored
    finally:
        vae.to(torch.float32)
    assert (upcast - reference).abs().max() < 1e-2                             # only the latents' rounding


def test_forward_process_uses_the_sdxl_vae_scaling(tiny_xl):
    image = Image.new("RGB", (64, 64), (200, 40, 40))
    noised = forward_process(tiny_xl, image, levels=3)
    assert [n.timestep for n in noised] == [0, 500, 999] and noised[0].image.shape[:2] == (64, 64)


# --- the bars of a model that cannot take a setting ---------------------------------------------------
def test_settings_sdxl_and_turbo_cannot_take_are_named(tiny_xl):
    sdxl = LoadedModel(tiny_xl.pipe, "sdxl", PRESETS["sdxl"], tiny_xl.device, tiny_xl.dtype)
    with pytest.raises(InputError, match=r"width: expected at least 512 pixels"):
        generate(sdxl, recipe_defaults(sdxl, "x", width=256, height=768), watch=False)
    turbo = LoadedModel(tiny_xl.pipe, "sdxl-turbo", PRESETS["sdxl-turbo"], tiny_xl.device, tiny_xl.dtype)
    with pytest.raises(InputError, match=r"guidance: expected at most 1 for sdxl-turbo.*received 5"):
        generate(turbo, recipe_defaults(turbo, "x", guidance=5.0), watch=False)
    with pytest.raises(InputError, match=r"steps: expected 1 to 4 for sdxl-turbo.*received 8"):
        generate(turbo, recipe_defaults(turbo, "x", steps=8), watch=False)
    with pytest.raises(InputError, match=r"prompt: expected at most 75 tokens \(text_encoder reads 77"):
        generate(tiny_xl, recipe_defaults(tiny_xl, "cat " * 80), watch=False)
    assert examples_for(turbo).figures[0].steps == 1 and examples_for(sdxl).figures[0].size == 768


# --- the embedding space, both encoders ---------------------------------------------------------------
def test_token_inspector_shows_both_tokenizers_and_encoders(tiny_xl):
    report = inspect_tokens(tiny_xl, "Sankt Martin")
    second = report.second
    assert report.encoder == "text_encoder" and second.encoder == "text_encoder_2"
    assert [t.text for t in report.tokens[:5]] == [t.text for t in second.tokens[:5]]     # same word pieces
    assert report.tokens[-1].text == "<|endoftext|>" and second.tokens[-1].text == "!"     # padded differently
    assert report.tokens[-1].kind == second.tokens[-1].kind == "pad"
    with torch.no_grad():
        penultimate = tiny_xl.pipe.text_encoder_2(
            tiny_xl.pipe.tokenizer_2("Sankt Martin", padding="max_length", max_length=77, return_tensors="pt")
            .input_ids, output_hidden_states=True).hidden_states[-2][0]
    assert second.tokens[1].output_norm == pytest.approx(float(penultimate[1].norm()), rel=1e-5)
    assert "text_encoder_2" in report.summary() and "'!'" in report.summary()


def test_pooled_readback_is_text_encoder_2s_projection(tiny_xl):
    embeds, _, pooled, _ = tiny_xl.pipe.encode_prompt("a red fox", device=tiny_xl.device)
    ours = encoding.pooled(tiny_xl, "a red fox")
    assert ours.shape == (1, 32) and torch.allclose(ours, pooled.float(), atol=1e-5)
    packed = encoding.conditioning(tiny_xl, "a red fox")
    assert packed.shape == (1, TOKENS + 1, 64) and torch.equal(packed[:, :TOKENS], embeds)
    assert torch.equal(packed[0, TOKENS, :32], pooled[0]) and not packed[0, TOKENS, 32:].any()


def test_arithmetic_applies_the_expression_to_the_pooled_vector_too(tiny_xl):
    result = evaluate(tiny_xl, '"van gogh" + astronaut', "conditioning", renormalize=False)
    a, b = encoding.pooled(tiny_xl, "van gogh"), encoding.pooled(tiny_xl, "astronaut")
    assert torch.allclose(result.pooled, a + b, atol=1e-4)
    conditioning = tiny_xl.adapter.make_conditioning(tiny_xl.pipe, result.conditioning, result.conditioning)
    assert torch.allclose(conditioning.pooled_prompt_embeds.float(), a + b, atol=1e-4)
    assert any("pooled vector the UNet also takes" in note for note in result.notes)
    assert result.token_norms.shape == (TOKENS,)
    image = generate(tiny_xl, recipe_defaults(tiny_xl, "x", expression="king - man + woman", steps=2), watch=False)
    assert image.image.size == (64, 64)


def test_token_space_encoding_equals_the_pipeline(tiny_xl):
    single = evaluate(tiny_xl, "'Sankt Martin reitet durch den Schnee'", "token")
    packed = encoding.conditioning(tiny_xl, "Sankt Martin reitet durch den Schnee")
    assert torch.allclose(single.conditioning, packed, atol=1e-5)
    mixed = evaluate(tiny_xl, '0.5 * "a red circle" + 0.5 * "a blue square"', "token")
    assert mixed.generatable and mixed.pooled.shape == (1, 32)
    generate(tiny_xl, recipe_defaults(tiny_xl, "x", expression='"a cat" + "a hat"', space="token", steps=1),
             watch=False)


# --- every view on SDXL -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base(tiny_xl):
    return recipe_defaults(tiny_xl, "a red circle", steps=2, width=64, height=64, seed=10)


def test_and_with_one_prompt_is_plain_generation(tiny_xl, base):
    alone = base.with_(blend=Blend("and", "a red circle", "a red circle", weights=(1.0, 0.0)))
    ours = generate(tiny_xl, alone, watch=False).image
    plain = generate(tiny_xl, base, watch=False).image
    assert np.abs(_pixels(ours) - _pixels(plain)).max() <= PIXEL_TOL        # 2 UNet rows instead of 1: rounding


def test_blend_comparator_all_seven_operators(tiny_xl, base):
    result = compare(tiny_xl, "van Gogh", "astronaut", base)
    assert [p.operator for p in result.panels] == list(OPERATORS)
    by_op = {p.operator: p for p in result.panels}
    assert by_op["a"].sim_a == pytest.approx(1.0, abs=1e-5)
    again = generate(tiny_xl, by_op["slerp"].recipe, watch=False).image
    assert np.abs(_pixels(again) - _pixels(by_op["slerp"].image)).max() <= PIXEL_TOL


def test_prompt_and_seed_walks_with_response_curves(tiny_xl, base):
    walk = interpolate(tiny_xl, base, ["a red circle", "a blue square"], [5], 3, batch_size=3)
    assert len(walk.done) == 3
    first = generate(tiny_xl, walk.done[0].recipe, watch=False).image
    assert np.abs(_pixels(first) - _pixels(walk.done[0].image)).max() <= PIXEL_TOL
    curves = response_curves(tiny_xl, walk)
    assert curves.measures["text (pooled)"].shape == (3, 2)
    seeds = interpolate(tiny_xl, base, ["a red circle"], [1, 2], 3, batch_size=3)
    assert "initial noise" in response_curves(tiny_xl, seeds).measures


def test_search_more_like_this_and_the_bias_probe(tiny_xl, base, tmp_path):
    vision = load_vision(tiny_xl)
    page = search(tiny_xl, base, 2, vision=vision, related=0, batch_size=2, outputs_dir=tmp_path)
    assert page.ranked and len(page.results) == 2
    more = more_like_this(tiny_xl, base, 2, 0.0, 500, batch_size=2)
    plain = generate(tiny_xl, base, watch=False).image
    assert all(np.abs(_pixels(r.image) - _pixels(plain)).max() <= PIXEL_TOL for r in more.results)
    probe = bias_probe(tiny_xl, base, ["a photo of a CEO", "a photo of a nurse"], 2,
                       parse_attributes("gender: a man | a woman"), vision=vision)
    assert probe.measured and all(sum(row) == 2 for row in probe.counts["gender"].values())


def test_nearest_concepts_map_and_axes(tiny_xl, tmp_path):
    full = builtin_vocabulary(tiny_xl)
    part = Vocabulary("concepts-120", full.entries[::25][:120], full.categories[::25][:120])
    index = ConceptIndex.for_model(tiny_xl, part, cache_dir=tmp_path)
    assert index.embeddings.shape[1] == 32                                       # text_encoder_2's pooled width
    expression, _, neighbors, _ = nearest_concepts(tiny_xl, "king - man + woman", 5, part)
    assert len(neighbors) == 5
    result = concept_map(index, query_points(tiny_xl, "a lighthouse\n= king - man + woman"), k=30, method="pca")
    assert len(result.labels) - result.n_concepts >= 2 and result.coords.shape == (len(result.labels), 2)
    ranking = rank_vocabulary(index, make_axis(tiny_xl, "summer", "winter"))
    assert len(ranking.labels) == len(index)


def test_recipes_round_trip_through_png_and_regenerate(tiny_xl, base, tmp_path):
    figure = examples_for(tiny_xl).figures[2]
    recipe = base.with_(prompt=figure.prompt, seed=figure.seed, steps=2)
    image = generate(tiny_xl, recipe, watch=False).image
    path = save_png(image, recipe, tmp_path)
    again = read_png_recipe(path)
    assert again == recipe and "Model: tiny-random-xl" in to_parameters(recipe)
    assert np.array_equal(_pixels(generate(tiny_xl, again, watch=False).image), _pixels(image))
