"""The openvino backend on the tiny model: the same pictures as torch within float32 rounding, every view on it
(step previews, embeddings, classroom batches, Stop; attention on torch, said so), its conversion cached on disk and
rebuilt when stale, refusals that name the field and leave torch working.

One conversion for the whole file (the fixture `fast`, shared with the CLI test through XDG_CACHE_HOME). Marked slow:
openvino's converter takes long by nature (tiny-random's UNet and decoder: 90-390 s on this 2-core machine under a
load of 10-16; even a one-layer module's conversion costs seconds of fixed overhead).
"""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

pytest.importorskip("openvino")
pytestmark = pytest.mark.slow

from explorer.errors import InputError  # noqa: E402
from explorer.generation.batches import render_recipes  # noqa: E402
from explorer.generation.conditioning import conditioning_for  # noqa: E402
from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import Recipe  # noqa: E402
from explorer.generation.stopping import Stopped  # noqa: E402
from explorer.generation.together import generate_together  # noqa: E402
from explorer.models import backends  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.outputs.png import read_png, save_png, to_parameters  # noqa: E402

MIN_PSNR = 35.0                   # dB at float32 (issue 32)
RECIPE = Recipe(model="tiny-random", prompt="a red circle", steps=3, width=64, height=64, guidance=5.0, seed=3)


def psnr(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mse = ((a - b) ** 2).mean()
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("xdg") / "latent-explorer"


@pytest.fixture(scope="module")
def fast(cache):
    """tiny-random (the same random weights as tiny_model) on openvino, converted into this file's cache."""
    model = load_model("tiny-random", backend="openvino", cache_dir=cache)
    model.pipe.set_progress_bar_config(disable=True)
    return model


def test_pictures_match_torch_and_previews_come_from_each_step(fast, tiny_model):
    solo = generate(tiny_model, RECIPE)
    quick = generate(fast, RECIPE)
    assert fast.fast_path.installed and fast.pipe.unet.forward is not None
    assert psnr(solo.image, quick.image) >= MIN_PSNR
    assert len(quick.steps) == RECIPE.steps
    for a, b in zip(solo.steps, quick.steps):            # each step's own latents, previewed
        assert psnr(a.x0, b.x0) >= MIN_PSNR
    assert solo.recipe.backend == "torch" and "backend" not in solo.recipe.to_dict()
    assert quick.recipe.backend == "openvino" and quick.recipe.to_dict()["backend"] == "openvino"
    # the fast path really ran: the UNet's own forward did not
    calls = []
    handle = fast.pipe.unet.conv_in.register_forward_hook(lambda *a: calls.append(1))
    try:
        generate(fast, RECIPE, watch=False)
    finally:
        handle.remove()
    assert calls == []


def test_embeddings_and_arithmetic_run_on_it(fast, tiny_model):
    recipe = RECIPE.with_(expression='"red circle" + "blue square"', prompt="")
    conditioning = conditioning_for(tiny_model, recipe)
    a = generate(tiny_model, recipe, conditioning=conditioning, watch=False)
    b = generate(fast, recipe, conditioning=conditioning, watch=False)
    assert psnr(a.image, b.image) >= MIN_PSNR and b.recipe.backend == "openvino"


def test_a_classroom_batch_runs_on_it(fast, tiny_model):
    recipes = [RECIPE, RECIPE.with_(seed=4, prompt="a blue square")]
    together = generate_together(fast, recipes, [conditioning_for(fast, r) for r in recipes])
    for recipe, result in zip(recipes, together):
        assert psnr(generate(tiny_model, recipe, watch=False).image, result.image) >= MIN_PSNR
        assert result.recipe.backend == "openvino" and len(result.steps) == recipe.steps


def test_walks_and_search_batches_run_on_it(fast, tiny_model):
    recipes = [RECIPE, RECIPE.with_(seed=5)]
    images, stopped = render_recipes(fast, recipes, batch_size=2)
    assert not stopped and len(images) == 2
    for recipe, image in zip(recipes, images):
        assert psnr(generate(tiny_model, recipe, watch=False).image, image) >= MIN_PSNR


def test_attention_runs_on_torch_and_says_so(fast, tiny_model):
    quick = generate(fast, RECIPE, attention=True)
    assert quick.attention is not None and quick.recipe.backend == "torch"
    assert np.array_equal(np.asarray(quick.image), np.asarray(generate(tiny_model, RECIPE, watch=False).image))
    assert fast.fast_path.installed                         # back on the fast path afterwards


def test_stop_ends_the_run_within_a_step(fast):
    cancel = threading.Event()
    cancel.set()
    stopped = generate(fast, RECIPE, cancel=cancel)
    assert stopped.cancelled and stopped.image is None
    arrays = [np.zeros((2, 4, 8, 8), np.float32), np.full(2, 500, np.float32), np.zeros((2, 77, 32), np.float32)]

    def stop():
        raise Stopped()
    with pytest.raises(Stopped):            # a check that raises while the graph runs cancels the infer request
        fast.fast_path.unet.run(arrays, stop)
    assert fast.fast_path.unet.run(arrays).shape == (2, 4, 8, 8)     # and the part keeps working


def test_the_png_records_the_backend(fast, tmp_path):
    result = generate(fast, RECIPE, watch=False)
    assert "Explorer backend: openvino" in to_parameters(result.recipe)
    assert "Explorer backend" not in to_parameters(RECIPE)
    recipe, _ = read_png(save_png(result.image, result.recipe, tmp_path))
    assert recipe.backend == "openvino"


def test_a_cached_conversion_is_reused_and_a_stale_one_rebuilt(tmp_path):
    module = torch.nn.Sequential(torch.nn.Linear(4, 3)).eval()
    example = (torch.randn(2, 4),)
    key = {"weights": backends.fingerprint(module)}
    first = backends.convert(module, example, key, tmp_path / "part")
    again = backends.convert(module, example, key, tmp_path / "part")
    assert first.built and not again.built
    with torch.no_grad():
        module[0].weight.mul_(2)
    changed = {"weights": backends.fingerprint(module)}
    assert changed != key
    rebuilt = backends.convert(module, example, changed, tmp_path / "part")
    assert rebuilt.built
    out = rebuilt.run([example[0].numpy()])
    assert np.allclose(out, module(example[0]).detach().numpy(), atol=1e-5)


def test_the_model_cache_is_reused(fast, cache):
    again = load_model("tiny-random", backend="openvino", cache_dir=cache)
    assert not again.fast_path.unet.built and not again.fast_path.decoder.built


def test_refusals_name_the_field_and_torch_keeps_working(tiny_sd3, tiny_model, tmp_path, monkeypatch):
    with pytest.raises(InputError) as error:
        load_model("tiny-random", backend="tensorrt")
    assert error.value.field == "backend"
    with pytest.raises(InputError) as error:                    # a model it cannot convert: a transformer
        backends.use_backend(tiny_sd3, "openvino", tmp_path)
    assert error.value.field == "backend" and tiny_sd3.fast_path is None and tiny_sd3.backend == "torch"
    monkeypatch.setitem(__import__("sys").modules, "openvino", None)      # not installed: the pip command
    with pytest.raises(InputError) as error:
        backends.use_backend(tiny_model, "openvino", tmp_path)
    assert error.value.field == "backend" and "pip install openvino" in str(error.value)
    assert tiny_model.fast_path is None
    assert generate(tiny_model, RECIPE, watch=False).image is not None


def test_the_cli_takes_backend(fast, cache, tmp_path, monkeypatch):
    from explorer.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent))              # the conversion `fast` made: reused
    out = tmp_path / "fast.png"
    assert main(["generate", "--model", "tiny-random", "--backend", "openvino", "--prompt", "a red circle",
                 "--steps", "2", "--width", "64", "--height", "64", "--out", str(out)]) == 0
    assert read_png(out)[0].backend == "openvino"


def test_the_tiny_decoder_runs_converted_on_it(fast, tiny_model, monkeypatch):
    from dataclasses import replace

    from explorer.models import tiny_decoder

    keys = []
    for model in (fast, tiny_model):               # the same random AutoencoderTiny (taesd's layers, one upsampling)
        monkeypatch.setattr(model, "adapter", replace(model.adapter, taesd="madebyollin/taesd"))
        tiny_decoder.use_decoder(model, "tiny", tiny_decoder.random_tiny_decoder(upsamplings=1))
        keys.append(("madebyollin/taesd", str(model.device), model.dtype))
    try:
        quick, solo = generate(fast, RECIPE, watch=False), generate(tiny_model, RECIPE, watch=False)
        assert fast.fast_path.tiny is not None and fast.fast_path.tiny.key is not None     # converted, used
        assert quick.recipe.decoder == solo.recipe.decoder == "tiny" and quick.recipe.backend == "openvino"
        assert psnr(quick.image, solo.image) >= MIN_PSNR
    finally:
        for model, key in zip((fast, tiny_model), keys):
            model.decoder = "full"
            model.tiny_decoders.pop(key)


def test_deepcache_runs_on_torch_and_says_so(fast, tiny_model):
    recipe = RECIPE.with_(deepcache=2)
    quick = generate(fast, recipe, watch=False)
    assert quick.recipe.backend == "torch" and quick.recipe.deepcache == 2
    assert np.array_equal(np.asarray(quick.image), np.asarray(generate(tiny_model, recipe, watch=False).image))
    assert fast.fast_path.installed
