"""SD3 and FLUX.1 in the remaining views (issue 28): the token inspector's T5 columns, the packed-sequence operations
(AND, token-input arithmetic, emphasis), the tiny decoders TAESD3 / TAEF1, and the lesson's chapters on these models.

tiny-random-sd3 / tiny-random-flux (tests/conftest.py's session fixtures); everything at 32 px, one or two steps.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from explorer.messages import render
from explorer.ui.embeddings_tab import on_tokens

UI = SimpleNamespace(token_summary="summary", token_table="table", token_plot="plot")


def _cells(row) -> list:
    return [render(cell, "en") if isinstance(cell, str) else cell for cell in row]


# --- the token inspector: CLIP's BPE and T5's pieces side by side, in the view, the API payload and the CLI -------
def test_the_token_table_shows_t5_pieces_beside_clips(tiny_flux, tiny_sd3):
    out = on_tokens(SimpleNamespace(model=tiny_flux), UI, "a red fox", False)
    headers = [render(h, "en") for h in out["table"]["headers"]]
    assert headers[:8] == ["position", "token", "id", "kind", "word", "|input|", "|output|", "weight"]
    assert headers[8:] == ["read by the transformer", "T5 position", "T5 piece", "T5 id", "T5 kind", "T5 word",
                           "T5 |input|", "T5 |output|", "T5 read"]
    rows = [_cells(row) for row in out["table"]["data"]]
    assert [row[1] for row in rows] == ["<|startoftext|>", "a</w>", "red</w>", "fox</w>", "<|endoftext|>"]
    assert [row[10] for row in rows] == ["▁a", "▁red", "▁fo", "x", "</s>"]          # T5's own pieces, its own positions
    assert [row[13] for row in rows] == ["a", "red", "fox", "fox", ""]               # 'fox' split by T5, whole in CLIP
    assert [row[8] for row in rows] == ["not read"] * 4 + ["pooled"]                  # FLUX: CLIP's pooled vector only
    assert {row[16] for row in rows} == {"read"}
    assert [render(h, "de") for h in out["table"]["headers"]][9:11] == ["T5-Position", "T5-Stück"]
    padded = [_cells(row) for row in on_tokens(SimpleNamespace(model=tiny_flux), UI, "a red fox", True)["table"]["data"]]
    assert len(padded) == 77 and padded[31][10] == "<pad>" and padded[31][16] == "read"     # T5 pads: attended
    assert padded[32][9:] == [None] * 8 and padded[76][1] == "<|endoftext|>"               # CLIP 77, T5 32 rows
    summary = render(out["summary"], "en")
    assert "No attention mask anywhere" in summary and "all 32 T5 rows, padding included" in summary
    assert "text_encoder reaches the transformer only as its pooled vector" in summary
    assert "Nirgends eine Attention-Maske" in render(out["summary"], "de")
    figure = out["plot"]                                                      # CLIP above, T5 below
    assert figure.layout.xaxis2.ticktext == ("▁a", "▁red", "▁fo", "x", "</s>")
    assert [render(t.name, "en") for t in figure.data][2:] == ["T5 |output| (the transformer attends to every row)",
                                                               "T5 |input| (token embedding)"]
    sd3 = [_cells(row) for row in on_tokens(SimpleNamespace(model=tiny_sd3), UI, "a red fox", False)["table"]["data"]]
    assert len(sd3[0]) == 10 + 1 + 8 and {row[10] for row in sd3} == {"read"}        # SD3 attends to CLIP's rows too


def test_the_cli_lists_each_encoders_limit_padding_and_mask(capsys):
    from explorer.cli import main

    assert main(["tokens", "--model", "tiny-random-sd3", "--prompt", "a red fox", "--json"]) == 0
    views = {view["encoder"]: view for view in json.loads(capsys.readouterr().out)["encoders"]}
    assert [(v["limit"], v["used"], v["starts"], v["pad_token"], v["reads"]) for v in views.values()] == [
        (77, 3, 1, "<|endoftext|>", "rows"), (77, 3, 1, "!", "rows"), (32, 4, 0, "<pad>", "rows")]
    assert views["text_encoder_3"]["padding"] == 27 and views["text_encoder_3"]["attention_mask"] is None
    assert main(["tokens", "--model", "tiny-random-flux", "--prompt", "a red fox"]) == 0
    text = capsys.readouterr().out
    assert "text_encoder: limit 77 tokens, 3 used, the transformer reads only its pooled vector" in text
    assert "text_encoder_2: limit 32 tokens, 4 used, the transformer reads every row (no attention mask)" in text


# --- the tiny decoders TAESD3 / TAEF1: random weights in the published shapes, as step previews ------------------
@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_tiny_decoders_preview_the_flow_families_offline(family, tiny_sd3, tiny_flux):
    """The real families' adapters name madebyollin/taesd3 / taef1; an AutoencoderTiny in that config (random weights,
    no download) put where the loader caches it decodes every step's x_t and x0 from the pipeline's 16-channel latents
    (FLUX: unpacked from its 2x2 patch tokens first), 8x per side as the real decoders do."""
    from dataclasses import replace

    import numpy as np
    import torch
    from diffusers import AutoencoderTiny

    from explorer.generation.generate import generate
    from explorer.generation.recipe import recipe_defaults
    from explorer.models.families import FAMILIES
    from explorer.models.loaded import LoadedModel
    from explorer.models.previews import TINY_DECODER_CONFIGS, available_decoders, to_uint8

    tiny = tiny_sd3 if family == "sd3" else tiny_flux
    adapter = replace(FAMILIES[family], min_size=32)                      # the real family's adapter at the tiny size
    model = LoadedModel(tiny.pipe, tiny.name, tiny.preset, tiny.device, tiny.dtype, adapter=adapter)
    repo = adapter.taesd
    assert repo == {"sd3": "madebyollin/taesd3", "flux": "madebyollin/taef1"}[family] and "taesd" in available_decoders(model)
    config = TINY_DECODER_CONFIGS[repo]
    assert config["latent_channels"] == tiny.pipe.vae.config.latent_channels == 16
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        decoder = AutoencoderTiny(**config).eval()
    seen = []
    original = decoder.decode
    decoder.decode = lambda latents, *a, **k: (seen.append(latents), original(latents, *a, **k))[1]
    model.tiny_decoders.put((repo, str(model.device), model.dtype), decoder)
    recipe = recipe_defaults(model, "a red fox", seed=3, steps=2, width=32, height=48, preview="taesd")
    result = generate(model, recipe)
    latent = (16, 48 // tiny.pipe.vae_scale_factor, 32 // tiny.pipe.vae_scale_factor)
    assert len(result.steps) == 2 and all(tuple(x.shape[1:]) == latent for x in seen)          # unpacked, 16 channels
    assert all(step.noisy.shape == step.x0.shape == (8 * latent[1], 8 * latent[2], 3) for step in result.steps)
    with torch.no_grad():
        again = to_uint8(((decoder.decode(seen[-1]).sample + 1) / 2).clamp(0, 1))
    assert np.array_equal(again[1], result.steps[-1].x0)                         # the x0 picture is TAESD's decode
    plain = generate(model, replace(recipe, preview="approx"), watch=False).image
    assert np.array_equal(np.asarray(plain), np.asarray(result.image))          # previews never change the image
    assert len(model.tiny_decoders) == 1                      # the cached decoder, nothing fetched (the hub is off)


# --- the lesson's chapters on tiny-random-sd3 / tiny-random-flux: each runs through the library, or says why not ----
@pytest.mark.parametrize("which", ["sd3", "flux"])
def test_every_lesson_chapter_runs_or_says_why_not(which, tiny_sd3, tiny_flux, tmp_path):
    """Each chapter's "show me" as the library step its view runs, with the values the chapter fills in for this
    model (its family's examples), at 32 px, one step and two seeds: a chapter either runs or is refused with a message
    naming the field (the lens: T5 is not read) or is not offered (only_note: miniworld's chapters)."""
    from explorer.concepts.index import ConceptIndex
    from explorer.concepts.projection import concept_map, query_points
    from explorer.concepts.vocabularies import Vocabulary, builtin_vocabulary
    from explorer.errors import InputError
    from explorer.explore.blends import compare
    from explorer.explore.probe import bias_probe, parse_attributes
    from explorer.explore.search import search
    from explorer.generation.forward import forward_process
    from explorer.generation.generate import generate
    from explorer.generation.recipe import recipe_defaults
    from explorer.explore.inversion import invert
    from explorer.inside.lens import check_family
    from explorer.lesson.chapters import load_lesson
    from explorer.models.examples import examples_for
    from explorer.models.vision import load_vision
    from explorer.text.arithmetic import evaluate
    from explorer.text.tokens import inspect_tokens

    model = tiny_sd3 if which == "sd3" else tiny_flux
    family, small = model.adapter.examples, dict(steps=1, width=32, height=32)
    vision = load_vision(model)
    full = builtin_vocabulary(model)
    vocabulary = Vocabulary("concepts-20", full.entries[::150][:20], full.categories[::150][:20])

    def base(prompt, seed=0):
        return recipe_defaults(model, prompt, seed=seed, **small)

    def arithmetic(expression):
        result = evaluate(model, expression, "conditioning")
        return generate(model, recipe_defaults(model, result.expression.describe(), expression=expression,
                                               space="conditioning", renormalize=True, **small), watch=False).image

    runners = {
        "arithmetic": lambda v: arithmetic(v["expression"]),
        "map": lambda v: concept_map(ConceptIndex.for_model(model, vocabulary, cache_dir=tmp_path),
                                     query_points(model, v["query"]), k=10, method="pca").coords,
        "forward": lambda v: forward_process(model, generate(model, base(examples_for(model).prompt), watch=False).image,
                                             levels=v["levels"], decoder="approx", width=32, height=32),
        "generate": lambda v: generate(model, base(v["prompt"], v.get("seed", 0))).steps,
        "blend": lambda v: compare(model, v["a"], v["b"], base("x"), vision=False).panels,
        "search": lambda v: search(model, base(v["query"]), 2, vision=vision, related=0, batch_size=2,
                                   outputs_dir=tmp_path).results,
        "probe": lambda v: bias_probe(model, base("x"), v["prompts"].splitlines()[:2], 2,
                                      parse_attributes(v["attributes"]), vision=vision).measured,
        "tokens": lambda v: inspect_tokens(model, v["prompt"]).others,
        "lens": lambda v: check_family(model),
        "invert": lambda v: invert(model, generate(model, base(examples_for(model).prompt), watch=False).image,
                                   prompt=v["prompt"].format(prompt=examples_for(model).prompt), steps=1),
    }
    ran, refused, not_offered = [], {}, []
    for chapter in load_lesson("en").chapters:
        if not chapter.runs_on(family):
            assert chapter.only_note, chapter.id                     # says which model it needs and why
            not_offered.append(chapter.id)
            continue
        values = chapter.values(examples_for(model), family)
        try:
            assert runners[chapter.view](values) is not False, chapter.id
            ran.append(chapter.id)
        except InputError as error:
            refused[chapter.id] = (error.field, render(error.args[0], "en"))
    assert ran == ["vectors", "nearness", "forward", "denoising", "blending", "archive", "stereotypes", "english"]
    assert list(refused) == ["represents", "inversion"] and refused["represents"][0] == "model"
    assert "does not read SD3's or FLUX's T5 encoder" in refused["represents"][1]
    assert refused["inversion"][0] == "model"                 # DDIM inversion: epsilon families only
    assert not_offered == ["gaps", "features", "flow"]


# --- A1111 emphasis over the packed sequence ---------------------------------------------------------------------
def test_emphasis_weighs_clip_and_t5_rows_and_leaves_the_pooled_row(tiny_sd3, tiny_flux):
    """Without weights the weighted encoding is the pipeline's own, bit for bit; `(red:1.5)` scales the rows of red's
    pieces in every encoder the transformer reads (SD3: CLIP-L, CLIP-G, T5; FLUX: T5) against the others, A1111's
    mean restore keeping the rest near their length, and the pooled row is untouched."""
    import torch

    from explorer.generation.generate import generate
    from explorer.generation.recipe import recipe_defaults
    from explorer.text import encoding
    from explorer.text.tokens import inspect_tokens

    for model in (tiny_sd3, tiny_flux):
        plain = encoding.conditioning(model, "a red fox")
        assert torch.equal(encoding.encode_weighted(model, "a red fox"), plain)       # as encode_prompt makes it
        weighed = encoding.encode_weighted(model, "a (red:1.5) fox")
        n = model.adapter.text_length(model.pipe)
        ratio = weighed[0, -n - 1:-1].norm(dim=-1) / plain[0, -n - 1:-1].norm(dim=-1)     # T5 rows: ▁a ▁red ▁fo x </s>
        assert ratio[1] / ratio[0] == pytest.approx(1.5, rel=1e-4) and torch.allclose(ratio[2:], ratio[0].expand(n - 2))
        assert torch.equal(weighed[0, -1], plain[0, -1])                                 # the pooled row as it was
        if model is tiny_sd3:                                                           # CLIP rows: <start> a red fox
            clip = weighed[0, :77, :64].norm(dim=-1) / plain[0, :77, :64].norm(dim=-1)
            assert clip[2] > 1.3 * clip[1]
        assert [t.weight for t in inspect_tokens(model, "a (red:1.5) fox").others[0].tokens[:3]] == [1.0, 1.5, 1.0]
        image = generate(model, recipe_defaults(model, "a (red:1.5) fox", steps=1, width=32, height=32), watch=False)
        assert image.image.size == (32, 32)


# --- Composable Diffusion's AND over the packed sequence ---------------------------------------------------------
def test_and_runs_on_sd3_bit_identically_and_is_refused_on_flux_with_its_reason(tiny_sd3, tiny_flux):
    """SD3: AND of one prompt (weight 1) is StableDiffusion3Pipeline's own image, bit for bit (same noise, the same
    two transformer rows [negative, prompt], v_u + (1 g)(v_1 - v_u) as the pipeline writes it); two prompts run, their
    weights matter, and the blend comparator shows all seven panels. FLUX: refused naming `operator`, saying why."""
    import numpy as np

    from explorer.explore.blends import compare
    from explorer.generation.conditioning import negative_sequences, sequences
    from explorer.generation.generate import generate
    from explorer.generation.recipe import Blend, recipe_defaults
    from explorer.errors import InputError

    recipe = recipe_defaults(tiny_sd3, "a lighthouse", seed=11, steps=2, width=32, height=32, negative_prompt="fog")
    plain = generate(tiny_sd3, recipe, watch=False)
    one = tiny_sd3.adapter.make_conditioning(tiny_sd3.pipe, sequences(tiny_sd3, "a lighthouse"),
                                             negative_sequences(tiny_sd3, "fog"), (1.0,))
    assert one.composable and len(one) == 1 and one.pooled_prompt_embeds.shape == (1, 64)
    composed = generate(tiny_sd3, recipe, conditioning=one, watch=True)
    assert np.array_equal(np.asarray(plain.image), np.asarray(composed.image)) and len(composed.steps) == 2

    def both(weights):
        return np.asarray(generate(tiny_sd3, recipe.with_(prompt="a cat AND a dog", negative_prompt="",
                                                          blend=Blend("and", "a cat", "a dog", weights=weights)),
                                   watch=False).image)
    assert not np.array_equal(both((1.0, 1.0)), both((1.0, 0.3)))
    panels = compare(tiny_sd3, "van Gogh", "astronaut", recipe.with_(negative_prompt=""), vision=False).panels
    assert [p.operator for p in panels][-1] == "and" and len(panels) == 7
    flux = recipe_defaults(tiny_flux, "x", steps=1, width=32, height=32)
    with pytest.raises(InputError, match=r"operator: .*FLUX.1 is guidance-distilled") as refused:
        generate(tiny_flux, flux.with_(prompt="a AND b", blend=Blend("and", "a", "b", weights=(1.0, 1.0))))
    assert "guidance-destilliert" in render(refused.value.allowed, "de")
