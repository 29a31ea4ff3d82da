"""SD3 and FLUX.1 through the library on tiny-random-sd3 / tiny-random-flux: flow-matching transformers as families.

The real StableDiffusion3Pipeline / FluxPipeline classes with tiny configs; generation is bit-identical to calling
the pipelines; every view speaks the family's terms (sigma, x0 = x_t - sigma v, T5 pieces, the packed sequence).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.errors import InputError
from explorer.explore.blends import compare
from explorer.explore.walks import interpolate
from explorer.generation.conditioning import conditioning_for
from explorer.generation.forward import flow_noise, forward_process
from explorer.generation.generate import generate
from explorer.generation.recipe import Blend, recipe_defaults
from explorer.generation.schedulers import make_scheduler
from explorer.generation.watch import flow_x0
from explorer.models.builtin import build_tiny_random_flux, t5_tokenizer
from explorer.models.families import FLUX_LATENT_RGB, SD3_LATENT_RGB, family_adapter
from explorer.models.loaded import LoadedModel
from explorer.models.loading import load_model
from explorer.models.presets import PRESETS, resolve_preset
from explorer.text import encoding
from explorer.text.arithmetic import evaluate
from explorer.text.tokens import inspect_tokens

PIXEL_TOL = 2          # batched vs one-at-a-time transformer passes: float rounding only


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def _plain(model, prompt, **settings):
    """The image the diffusers pipeline makes itself for the same settings (its own encode_prompt and noise)."""
    pipe = model.pipe
    pipe.scheduler = make_scheduler("euler", model.base_scheduler_config, flow=True)
    seed = settings.pop("seed")
    with torch.inference_mode():
        return pipe(prompt, generator=torch.Generator("cpu").manual_seed(seed),
                    max_sequence_length=model.adapter.text_length(pipe), **settings).images[0]


# --- the models ---------------------------------------------------------------------------------------
def test_tiny_models_are_the_real_architectures(tiny_sd3, tiny_flux):
    sd3, flux = tiny_sd3.pipe, tiny_flux.pipe
    assert type(sd3).__name__ == "StableDiffusion3Pipeline" and type(sd3.transformer).__name__ == "SD3Transformer2DModel"
    assert type(flux).__name__ == "FluxPipeline" and type(flux.transformer).__name__ == "FluxTransformer2DModel"
    assert type(sd3.text_encoder_3).__name__ == type(flux.text_encoder_2).__name__ == "T5EncoderModel"
    assert sd3.vae.config.latent_channels == flux.vae.config.latent_channels == 16
    assert type(sd3.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    assert tiny_sd3.latent_rgb == SD3_LATENT_RGB and tiny_flux.latent_rgb == FLUX_LATENT_RGB
    assert tiny_sd3.denoiser is sd3.transformer and flux.transformer.config.guidance_embeds
    # the T5 tokenizer: the shipped SentencePiece pieces, the same ids from every build
    ids = t5_tokenizer()("a red fox in the snow").input_ids
    assert ids == flux.tokenizer_2("a red fox in the snow").input_ids and ids[-1] == 1          # </s>
    assert len(flux.tokenizer_2) == 1000 and flux.tokenizer_2.model_max_length == 32


def test_presets_and_detection_from_the_models_files(tiny_sd3, tmp_path):
    assert (PRESETS["flux-schnell"].family, PRESETS["flux-schnell"].max_steps, PRESETS["flux-schnell"].guidance) \
        == ("flux", 4, 0.0)
    assert PRESETS["flux-dev"].text_length == 512 and PRESETS["sd35-medium"].source.endswith("stable-diffusion-3.5-medium")
    assert resolve_preset("black-forest-labs/FLUX.1-dev").family == "flux"
    assert resolve_preset("someone/my-sd3-finetune").family == "sd3"
    tiny_sd3.pipe.save_pretrained(tmp_path / "my-sd3")
    assert resolve_preset(str(tmp_path / "my-sd3")).family == "sd3"                 # model_index.json's _class_name
    loaded = load_model(str(tmp_path / "my-sd3"), fallback=False)
    assert type(loaded.pipe).__name__ == "StableDiffusion3Pipeline" and loaded.adapter.flow
    assert loaded.pipe.tokenizer_3("a red fox").input_ids == tiny_sd3.pipe.tokenizer_3("a red fox").input_ids


# --- generation: bit-identical to the pipelines ---------------------------------------------------------
def test_sd3_generation_is_bit_identical_to_the_pipeline(tiny_sd3):
    for negative in ("", "blurry"):
        recipe = recipe_defaults(tiny_sd3, "a red circle", seed=3, steps=2, width=32, height=32,
                                 negative_prompt=negative)
        ours = generate(tiny_sd3, recipe, watch=False).image
        theirs = _plain(tiny_sd3, "a red circle", negative_prompt=negative or None, num_inference_steps=2,
                        guidance_scale=4.5, width=32, height=32, seed=3)
        assert np.array_equal(_pixels(ours), _pixels(theirs)), negative


def test_flux_generation_is_bit_identical_and_watched_in_sigmas(tiny_flux):
    recipe = recipe_defaults(tiny_flux, "a lighthouse", seed=1, steps=3, width=48, height=32, preview="full")
    watched = generate(tiny_flux, recipe, watch=True)
    theirs = _plain(tiny_flux, "a lighthouse", num_inference_steps=3, guidance_scale=3.5, width=48, height=32, seed=1)
    assert watched.image.size == (48, 32) and np.array_equal(_pixels(watched.image), _pixels(theirs))
    sigmas = [s.sigma for s in watched.steps]
    assert len(sigmas) == 3 and sigmas == sorted(sigmas, reverse=True) and 0 < sigmas[-1] < sigmas[0] <= 1
    assert watched.steps[0].label.startswith("σ=") and watched.steps[0].x0.shape == (32, 48, 3)
    # Euler's last step goes to sigma = 0: x_t - sigma v is then the final latent itself
    assert np.abs(watched.steps[-1].x0.astype(int) - _pixels(watched.image)).max() <= 1


def test_stop_ends_a_flux_run_within_a_transformer_block(tiny_flux):
    import threading

    stop = threading.Event()
    stop.set()                            # before the first block: nothing finished, nothing to keep
    result = generate(tiny_flux, recipe_defaults(tiny_flux, "a fox", steps=3, width=32, height=32), cancel=stop)
    assert result.cancelled and result.image is None and not result.steps


def test_flow_x0_is_the_straight_line_inverted():
    x0, noise = torch.randn(1, 16, 4, 4), torch.randn(1, 16, 4, 4)
    for sigma in (0.0, 0.3, 1.0):
        xt = flow_noise(x0, noise, torch.tensor([sigma]))
        assert torch.allclose(flow_x0(xt, noise - x0, sigma), x0, atol=1e-6)        # v = eps - x0


def test_forward_process_is_a_straight_line(tiny_sd3):
    noised = forward_process(tiny_sd3, Image.new("RGB", (32, 32), (200, 40, 40)), levels=3, width=32, height=32,
                             decoder="approx")
    assert [n.sigma for n in noised] == [0.0, pytest.approx(0.5, abs=1e-3), 1.0]
    assert "σ" in str(noised[1].caption) and noised[0].label == "σ=0.00"


def test_batched_renders_equal_solo_ones(tiny_flux):
    base = recipe_defaults(tiny_flux, "a red circle", steps=2, width=32, height=32, seed=10)
    walk = interpolate(tiny_flux, base, ["a red circle", "a blue square"], [5], 3, batch_size=3)
    assert len(walk.done) == 3
    solo = generate(tiny_flux, walk.done[1].recipe, watch=False).image
    assert np.abs(_pixels(solo) - _pixels(walk.done[1].image)).max() <= PIXEL_TOL


# --- the packed sequence: T5 rows plus the pooled CLIP row ------------------------------------------------
@torch.no_grad()
def test_packed_sequences_and_pooled_readback(tiny_sd3, tiny_flux):
    embeds, pooled, _ = tiny_flux.pipe.encode_prompt("a red fox", "a red fox", max_sequence_length=32)
    packed = encoding.conditioning(tiny_flux, "a red fox")
    assert packed.shape == (1, 33, 32) and torch.equal(packed[:, :32], embeds) and torch.equal(packed[0, 32], pooled[0])
    assert torch.allclose(encoding.pooled(tiny_flux, "a red fox"), pooled.float(), atol=1e-5)   # CLIP-L's, not T5
    embeds, _, pooled, _ = tiny_sd3.pipe.encode_prompt("a red fox", "a red fox", "a red fox", do_classifier_free_guidance=False,
                                                       max_sequence_length=32)
    packed = encoding.conditioning(tiny_sd3, "a red fox")
    assert packed.shape == (1, 77 + 32 + 1, 64) and torch.equal(packed[:, :-1], embeds)
    assert torch.allclose(encoding.pooled(tiny_sd3, "a red fox"), pooled.float(), atol=1e-5)
    assert "CLIP-L" in str(tiny_sd3.adapter.readback_note)


def test_arithmetic_and_blends_on_the_packed_sequence(tiny_flux):
    result = evaluate(tiny_flux, '"van gogh" + astronaut', "conditioning", renormalize=False)
    a, b = encoding.pooled(tiny_flux, "van gogh"), encoding.pooled(tiny_flux, "astronaut")
    assert torch.allclose(result.pooled, a + b, atol=1e-4)
    conditioning = tiny_flux.adapter.make_conditioning(tiny_flux.pipe, result.conditioning, result.conditioning)
    assert torch.allclose(conditioning.pooled_prompt_embeds.float(), a + b, atol=1e-4)
    renormed = evaluate(tiny_flux, '"van gogh" + astronaut', "conditioning")          # T5 rows back to their norms
    ingredients = torch.stack([encoding.conditioning(tiny_flux, p)[0, :32].norm(dim=-1) for p in ("van gogh", "astronaut")])
    assert torch.allclose(renormed.conditioning[0, :32].float().norm(dim=-1), ingredients.mean(0), rtol=1e-4)
    assert result.conditioning[0, :32].float().norm(dim=-1).mean() > 1.2 * ingredients.mean()      # the raw sum spikes
    base = recipe_defaults(tiny_flux, "a red circle", steps=1, width=32, height=32, seed=4)
    blends = compare(tiny_flux, "van Gogh", "astronaut", base, vision=False)
    assert [p.operator for p in blends.panels] == ["a", "b", "concat", "lerp", "slerp", "sum"]   # AND: said, not run
    assert any("AND" in str(note) for note in blends.notes)
    with pytest.raises(InputError, match=r"space: expected `conditioning` or `pooled`"):
        evaluate(tiny_flux, '"a cat" + "a hat"', "token")


def test_search_probe_concepts_map_and_axes_on_sd3(tiny_sd3, tmp_path):
    from explorer.concepts.axes import make_axis, rank_vocabulary
    from explorer.concepts.index import ConceptIndex
    from explorer.concepts.neighbors import nearest_concepts
    from explorer.concepts.projection import concept_map, query_points
    from explorer.concepts.vocabularies import Vocabulary, builtin_vocabulary
    from explorer.explore.probe import bias_probe, parse_attributes
    from explorer.explore.search import more_like_this, search
    from explorer.models.vision import load_vision

    full = builtin_vocabulary(tiny_sd3)
    part = Vocabulary("concepts-60", full.entries[::50][:60], full.categories[::50][:60])
    index = ConceptIndex.for_model(tiny_sd3, part, cache_dir=tmp_path)
    assert index.embeddings.shape[1] == 64                              # CLIP-L + CLIP-G projections (32 + 32)
    assert len(nearest_concepts(tiny_sd3, "king - man + woman", 3, part)[2]) == 3
    result = concept_map(index, query_points(tiny_sd3, "a lighthouse\n= king - man + woman"), k=20, method="pca")
    assert result.coords.shape == (len(result.labels), 2)
    assert len(rank_vocabulary(index, make_axis(tiny_sd3, "summer", "winter")).labels) == len(index)
    base = recipe_defaults(tiny_sd3, "a red circle", steps=1, width=32, height=32, seed=10)
    vision = load_vision(tiny_sd3)
    assert search(tiny_sd3, base, 2, vision=vision, related=0, batch_size=2, outputs_dir=tmp_path).results
    plain = generate(tiny_sd3, base, watch=False).image
    more = more_like_this(tiny_sd3, base, 2, 0.0, 500, batch_size=2)
    assert all(np.abs(_pixels(r.image) - _pixels(plain)).max() <= PIXEL_TOL for r in more.results)
    probe = bias_probe(tiny_sd3, base, ["a photo of a CEO", "a photo of a nurse"], 1, parse_attributes("gender: a man | a woman"),
                       vision=vision)
    assert probe.measured


# --- the token inspector: CLIP's BPE and T5's SentencePiece side by side ---------------------------------
def test_token_inspector_shows_clip_and_t5(tiny_sd3, tiny_flux):
    report = inspect_tokens(tiny_flux, "a red fox")
    t5 = report.others[0]
    assert report.encoder == "text_encoder" and report.limit == 77 and report.tokens[0].kind == "start"
    assert t5.encoder == "text_encoder_2" and t5.limit == 32 and t5.starts == 0
    assert t5.tokens[0].kind == "word" and t5.tokens[0].text.startswith("▁")
    assert [t.text for t in t5.tokens if t.kind == "end"] == ["</s>"] and t5.tokens[-1].text == "<pad>"
    assert [w for w, _ in t5.words()] == ["a", "red", "fox"] and "T5 (text_encoder_2, 32 tokens" in str(report.summary())
    sd3 = inspect_tokens(tiny_sd3, "a red fox")
    assert sd3.second.encoder == "text_encoder_2" and sd3.others[0].encoder == "text_encoder_3"


# --- bad input: a message naming the field ----------------------------------------------------------------
def test_bad_input_is_named(tiny_flux, tiny_sd3):
    with pytest.raises(InputError, match=r"prompt: expected at most 31 tokens \(text_encoder_2 reads 32"):
        generate(tiny_flux, recipe_defaults(tiny_flux, "cat " * 40), watch=False)
    with pytest.raises(InputError, match=r"negative_prompt: expected no negative prompt"):
        generate(tiny_flux, recipe_defaults(tiny_flux, "a fox", negative_prompt="blurry"), watch=False)
    schnell = LoadedModel(tiny_flux.pipe, "flux-schnell", PRESETS["flux-schnell"], tiny_flux.device, tiny_flux.dtype)
    with pytest.raises(InputError, match=r"guidance: expected at most 0 for flux-schnell.*received 3.5"):
        generate(schnell, recipe_defaults(schnell, "a fox", guidance=3.5, width=256, height=256), watch=False)
    undistilled = LoadedModel(build_tiny_random_flux(guidance_embeds=False), "tiny-random-flux",
                              PRESETS["tiny-random-flux"], tiny_flux.device, tiny_flux.dtype)
    with pytest.raises(InputError, match=r"guidance: expected 0 \(this FLUX model takes no guidance input"):
        generate(undistilled, recipe_defaults(undistilled, "a fox"), watch=False)
    real_sized = SimpleNamespace(vae_scale_factor=8, patch_size=2)                      # SD3.5's: 16 px patches
    with pytest.raises(InputError, match=r"width: expected a multiple of 16 pixels"):
        family_adapter("sd3").check_recipe(real_sized, recipe_defaults(tiny_sd3, "x", width=1000, height=1024))
    with pytest.raises(InputError, match=r"scheduler: expected one of euler"):
        generate(tiny_sd3, recipe_defaults(tiny_sd3, "x", scheduler="ddim"), watch=False)
    with pytest.raises(InputError, match=r"operator: "):             # FLUX: no unconditional pass to compose (SD3 runs AND)
        generate(tiny_flux, recipe_defaults(tiny_flux, "x", blend=Blend("and", "a", "b", weights=(1.0, 1.0))))
    # A1111 emphasis runs on SD3/FLUX now (every encoder's rows weighed): tests/models/test_flow_views.py
    # joint-attention maps run on SD3/FLUX now: tests/generation/test_joint_attention.py
    conditioning = conditioning_for(tiny_flux, recipe_defaults(tiny_flux, "a fox"))
    assert conditioning.prompt_embeds.shape == (1, 32, 32) and conditioning.pooled_prompt_embeds.shape == (1, 32)


# --- the CLI and the API on the new families ------------------------------------------------------------
def test_cli_generates_and_inspects_tokens_on_flux(tmp_path, capsys):
    import json

    from explorer.cli import main
    from explorer.outputs.png import read_png_recipe

    flux = ["--model", "tiny-random-flux"]
    out = tmp_path / "fox.png"
    assert main(["generate", *flux, "--prompt", "a red fox", "--seed", "2", "--steps", "2", "--width", "32",
                 "--height", "32", "--out", str(out)]) == 0
    recipe = read_png_recipe(out)
    assert (recipe.model, recipe.scheduler, recipe.guidance) == ("tiny-random-flux", "euler", 3.5)
    capsys.readouterr()
    assert main(["tokens", *flux, "--prompt", "a red fox", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [e["encoder"] for e in report["encoders"]] == ["text_encoder", "text_encoder_2"]
    assert main(["generate", *flux, "--prompt", "a fox", "--negative", "blurry", "--steps", "1",
                 "--out", str(tmp_path / "neg.png")]) == 2                                   # refused, field named
    assert "negative_prompt" in capsys.readouterr().err


@pytest.fixture(scope="module")
def flux_client(tiny_flux, tmp_path_factory, connect):
    from explorer.config import ExplorerConfig
    from explorer.ui.app import build_demo, launch_kwargs
    from tests.servers import close_demo

    root = tmp_path_factory.mktemp("flux-app")
    config = ExplorerConfig(model="tiny-random-flux", outputs_dir=root / "outputs", cache_dir=root / "cache",
                            max_size=256, max_steps=50)
    demo = build_demo(tiny_flux, config)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, **{**launch_kwargs(config, demo), "server_port": None})
    yield connect(url)
    close_demo(demo)


def test_api_generates_flux_bit_identically_and_names_bad_input(flux_client, tiny_flux):
    from explorer.outputs.png import read_png_recipe

    image, noisy, x0, _plot, status, _recipe, parameters, *_ = flux_client.predict(
        "a lighthouse at dawn", "", 0, False, 2, 3.5, 32, 48, "euler", "approx", api_name="/generate")
    assert len(noisy) == len(x0) == 2 and "Model: tiny-random-flux" in parameters
    assert "σ=" in str(noisy[0]["caption"])
    recipe = read_png_recipe(image)
    again = generate(tiny_flux, recipe, watch=False).image
    assert np.array_equal(np.asarray(again), np.asarray(Image.open(image).convert("RGB")))
    with pytest.raises(Exception, match=r"negative_prompt"):
        flux_client.predict("a fox", "blurry", 0, False, 2, 3.5, 32, 32, "euler", "approx", api_name="/generate")
    summary, _table, _plot = flux_client.predict("a red fox", True, api_name="/tokens")
    assert "text_encoder_2" in summary and "▁red" in summary
    maps = flux_client.predict("a red fox", "", 1, 1, 3.5, 32, 32, "euler", api_name="/attention")   # joint attention
    assert maps["tokens"][:2] == ["▁a", "▁red"] and list(maps["shares"]) == ["a", "red", "fox"]
    assert any("T5" in note for note in maps["notes"])


def test_cost_estimates_follow_the_transformers_size():
    from explorer.generation.cost import estimate

    def model(name):
        return SimpleNamespace(name=name, preset=PRESETS[name], device=torch.device("cpu"))

    recipe = recipe_defaults(model("sdxl"), "a fox", width=1024, height=1024, guidance=3.5)
    sdxl, sd35, dev = (estimate(model(name), recipe).step for name in ("sdxl", "sd35-medium", "flux-dev"))
    assert sd35 < sdxl < dev and dev == pytest.approx(sdxl * 11.9 / 2.6 / 2, rel=1e-6)   # FLUX: one pass a step


def test_the_attention_view_asks_for_a_generation_on_flux_as_on_the_unet(tiny_flux, tiny_model):
    """Joint attention is captured now (generation.joint_attention): before a generation, FLUX's accordion asks for one
    as the UNet families' does, and no longer says the family has no maps."""
    from types import SimpleNamespace

    from explorer.ui.generate_attention import AttentionUI, on_attention_view

    ui = AttentionUI(*"state word half special note shown grid steps".split())
    flux = on_attention_view(SimpleNamespace(model=tiny_flux), ui, None, None, "prompt", True)
    assert "joint attention is not captured" not in flux["note"] and "Maps are recorded for plain prompts" in flux["note"]
    unet = on_attention_view(SimpleNamespace(model=tiny_model), ui, None, None, "prompt", True)
    assert "Maps are recorded for plain prompts" in unet["note"]


def test_the_token_plot_does_not_say_flux_attends_to_clips_states(tiny_flux, tiny_sd3, tiny_model):
    """FLUX reads only CLIP's pooled vector: the norm plot's bars are named so; SD3 and SD attend to CLIP's states."""
    from types import SimpleNamespace

    from explorer.messages import render
    from explorer.ui.embeddings_tab import on_tokens

    ui = SimpleNamespace(token_summary="summary", token_table="table", token_plot="plot")
    names = {}
    for model in (tiny_flux, tiny_sd3, tiny_model):
        figure = on_tokens(SimpleNamespace(model=model), ui, "a red fox", False)["plot"]
        names[model.adapter.flow, model.adapter.clip_states] = [trace.name for trace in figure.data]
    assert any("only its pooled vector" in name for name in names[True, False])
    assert not any("pooled" in name for key in ((True, True), (False, True)) for name in names[key])
    assert "gepoolter Vektor" in render(names[True, False][0], "de")
