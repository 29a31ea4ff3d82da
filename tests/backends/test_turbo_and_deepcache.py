"""The tiny decoder for the final image (TAESD/TAESDXL; AutoencoderTiny in the published shapes with random weights, no
hub) and DeepCache (deep UNet features reused between full steps) on the shared tiny model, on torch: recorded in the
recipe and the PNG, refused naming the field where they cannot run. The openvino parts are in test_backends.py (slow).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from explorer.errors import InputError
from explorer.generation import deepcache
from explorer.generation.generate import generate
from explorer.generation.recipe import Recipe, validate
from explorer.models import tiny_decoder
from explorer.outputs.png import read_png, save_png, to_parameters

RECIPE = Recipe(model="tiny-random", prompt="a red circle", steps=4, width=32, height=32, guidance=5.0, seed=3)


@pytest.fixture
def with_tiny(tiny_model, monkeypatch):
    """tiny_model's family given a tiny decoder (random AutoencoderTiny in taesd's layers, one upsampling: its VAE
    scales by 2), removed afterwards."""
    monkeypatch.setattr(tiny_model, "adapter", replace(tiny_model.adapter, taesd="madebyollin/taesd"))
    module = tiny_decoder.random_tiny_decoder(upsamplings=1)
    key = ("madebyollin/taesd", str(tiny_model.device), tiny_model.dtype)
    try:
        yield module
    finally:
        tiny_model.decoder = "full"
        tiny_model.tiny_decoders.pop(key)


def test_deepcache_interval_1_is_the_plain_path_and_n_skips_the_deep_blocks(tiny_model):
    calls = []
    deep = tiny_model.denoiser.mid_block.resnets[0]              # inside the mid block: skipped on cached steps
    handle = deep.register_forward_hook(lambda *a: calls.append(1))
    try:
        plain = generate(tiny_model, RECIPE)
        full = len(calls)
        one = generate(tiny_model, RECIPE.with_(deepcache=1))
        assert len(calls) == 2 * full
        cached = generate(tiny_model, RECIPE.with_(deepcache=2))
    finally:
        handle.remove()
    assert full == RECIPE.steps
    assert np.array_equal(np.asarray(plain.image), np.asarray(one.image))      # interval 1: the plain UNet
    assert one.recipe.deepcache == 0 and "deepcache" not in one.recipe.to_dict()
    assert len(calls) - 2 * full == 2                     # steps 1 and 3 in full, 2 and 4 from the cache
    assert cached.recipe.deepcache == 2 and cached.recipe.to_dict()["deepcache"] == 2
    assert len(cached.steps) == RECIPE.steps and cached.steps[-1].x0 is not None          # the gallery still works
    assert not np.array_equal(np.asarray(plain.image), np.asarray(cached.image))
    assert "forward" not in vars(tiny_model.denoiser.mid_block)                             # unwrapped afterwards


def test_deepcache_skips_with_the_authors_numbering(tiny_model):
    """Only conv_in, the last up block's last layer and conv_out run on a cached step (DeepCacheSDHelper, 0/0)."""
    unet = tiny_model.denoiser
    x, t = torch.randn(1, 4, 4, 4), torch.tensor([10.0])
    embeds = torch.randn(1, 77, unet.config.cross_attention_dim)
    with torch.inference_mode(), deepcache.deep_cache(unet, 2) as run:
        first = unet(x, t, embeds).sample
        ran = []
        handles = [m.register_forward_hook(lambda m, a, o, name=name: ran.append(name))
                   for name, m in unet.named_modules() if name.count(".") == 3 and "blocks" in name]
        again = unet(x, torch.tensor([9.0]), embeds).sample
        for handle in handles:
            handle.remove()
    last = f"up_blocks.{len(unet.up_blocks) - 1}.resnets.{len(unet.up_blocks[-1].resnets) - 1}"
    assert run.steps == 2 and run.full_steps == 1 and run.cached_calls > 0
    assert last in ran and not any(name.startswith(("down_blocks", "mid_block")) for name in ran)
    assert first.shape == again.shape


def test_deepcache_refusals_name_the_field(tiny_model, tiny_sd3):
    with pytest.raises(InputError) as error:
        validate(RECIPE.with_(deepcache=deepcache.MAX_INTERVAL + 1))
    assert error.value.field == "deepcache"
    with pytest.raises(InputError) as error:                      # a transformer has no UNet blocks to cache
        deepcache.use_deepcache(tiny_sd3, 3)
    assert error.value.field == "deepcache" and tiny_sd3.deepcache == 0
    assert generate(tiny_model, RECIPE.with_(steps=1), watch=False).image is not None


def test_tiny_decoder_decodes_the_final_image_and_the_recipe_says_so(tiny_model, with_tiny, tmp_path):
    full = generate(tiny_model, RECIPE, watch=False)
    tiny_decoder.use_decoder(tiny_model, "tiny", with_tiny)
    tiny = generate(tiny_model, RECIPE, watch=False)
    assert tiny.recipe.decoder == "tiny" and tiny.recipe.to_dict()["decoder"] == "tiny"
    assert full.recipe.decoder == "full" and "decoder" not in full.recipe.to_dict()
    assert tiny.image.size == full.image.size == (RECIPE.width, RECIPE.height)
    assert not np.array_equal(np.asarray(full.image), np.asarray(tiny.image))
    assert "Explorer decoder: tiny" in to_parameters(tiny.recipe)
    recipe, _ = read_png(save_png(tiny.image, tiny.recipe, tmp_path))
    assert recipe.decoder == "tiny"
    tiny_model.decoder = "full"                         # a recipe that says tiny is decoded tiny on any server
    again = generate(tiny_model, recipe, watch=False)
    assert np.array_equal(np.asarray(again.image), np.asarray(tiny.image)) and again.recipe.decoder == "tiny"


def test_tiny_decoder_matches_autoencoder_tiny_on_the_latent(tiny_model, with_tiny):
    tiny_decoder.use_decoder(tiny_model, "tiny", with_tiny)
    latents = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(0))
    pixels = tiny_decoder.decode_tiny(tiny_model, latents)
    assert pixels.shape == (1, 3, 8, 8)
    assert torch.equal(pixels, with_tiny.decoder(latents))
    published = tiny_decoder.random_tiny_decoder()          # taesd's published shapes: x8, 1.2 M decoder weights
    assert published.decoder(latents).shape == (1, 3, 32, 32)
    assert sum(p.numel() for p in published.decoder.parameters()) == 1_222_531
    with pytest.raises(InputError) as error:                # a decoder that does not fit the model's VAE: refused
        tiny_decoder.use_decoder(tiny_model, "tiny", published)
    assert error.value.field == "decoder"


def test_the_real_tiny_decoder_comes_from_the_family_checkpoint(tiny_model, with_tiny, monkeypatch):
    from diffusers import AutoencoderTiny

    asked = []

    def from_pretrained(repo, **kwargs):
        asked.append(repo)
        raise OSError("offline")
    monkeypatch.setattr(AutoencoderTiny, "from_pretrained", from_pretrained)
    with pytest.raises(InputError) as error:
        tiny_decoder.use_decoder(tiny_model, "tiny")
    assert asked == ["madebyollin/taesd"] and error.value.field == "decoder" and tiny_model.decoder == "full"
    asked.clear()
    monkeypatch.setattr(AutoencoderTiny, "from_pretrained", lambda repo, **kw: asked.append(repo) or with_tiny)
    tiny_decoder.use_decoder(tiny_model, "tiny")
    tiny_decoder.use_decoder(tiny_model, "tiny")                # loaded once, shared with the taesd previews
    assert asked == ["madebyollin/taesd"] and tiny_model.decoder == "tiny"


def test_tiny_decoder_refusals_name_the_field(tiny_model):
    with pytest.raises(InputError) as error:
        tiny_decoder.use_decoder(tiny_model, "tiny")              # tiny-random's family has no tiny decoder
    assert error.value.field == "decoder" and tiny_model.decoder == "full"
    with pytest.raises(InputError) as error:
        validate(RECIPE.with_(decoder="small"))
    assert error.value.field == "decoder"


def test_the_cli_takes_decoder_and_deepcache(tmp_path):
    from explorer.cli import main

    out = tmp_path / "cached.png"
    assert main(["generate", "--model", "tiny-random", "--deepcache", "2", "--prompt", "a red circle", "--steps", "2",
                 "--width", "32", "--height", "32", "--out", str(out)]) == 0
    assert read_png(out)[0].deepcache == 2
    assert main(["generate", "--model", "tiny-random", "--decoder", "tiny", "--prompt", "a red circle",
                 "--steps", "1", "--out", str(tmp_path / "tiny.png")]) != 0                # no tiny decoder: refused
    assert not (tmp_path / "tiny.png").exists()
