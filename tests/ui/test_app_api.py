"""The Generate tab through the HTTP API (gradio_client), as a script or another program would call it."""
from __future__ import annotations

import pytest
from gradio_client import handle_file
from PIL import Image

from explorer.outputs.png import read_png_recipe


def _generate(client, **overrides):
    args = dict(prompt="a lighthouse", negative_prompt="", seed=3, randomize=False, steps=3, guidance=7.5,
                width=64, height=64, scheduler="ddim", preview="approx")
    args.update(overrides)
    return client.predict(*args.values(), api_name="/generate")


def test_generate_returns_image_steps_and_recipe(app_url, connect):
    """A new session (its history holds its own one image, whichever tests used the shared client before)."""
    image, noisy, x0, _plot, status, recipe_json, parameters, files, history, seed, _fwd = _generate(connect(app_url))
    assert "Done" in status and seed == 3
    assert len(noisy) == len(x0) == 3
    recipe = read_png_recipe(image)
    assert recipe.prompt == "a lighthouse" and recipe.seed == 3 and recipe.steps == 3
    assert "Seed: 3" in parameters and '"seed": 3' in recipe_json
    assert len(files) == 3 and len(history) == 1


def test_outputs_are_never_overwritten(client):
    first = _generate(client, seed=11)[0]
    second = _generate(client, seed=11)[0]
    assert read_png_recipe(first) == read_png_recipe(second)
    saved = [p for p in (first, second)]
    assert len(set(saved)) == 2


@pytest.mark.parametrize("field,value,message", [
    ("width", 65, "width: expected a multiple of 8"),
    ("height", 4096, "height: expected a number in [32, 256], received 4096"),
    ("steps", 0, "steps: expected a number in [1, 50], received 0"),
    ("seed", 2**32, "seed: expected an integer in [0, 4294967295]"),
    ("seed", -5, "seed: expected an integer in [0, 4294967295]"),
    ("seed", 1.5, "seed: expected an integer in [0, 4294967295], received 1.5"),
    ("scheduler", "magic", "scheduler: expected one of"),
    ("prompt", "  ", "prompt: expected a non-empty prompt"),
    ("prompt", "cat " * 80, "prompt: expected at most 75 tokens"),
    ("guidance", 99, "guidance: expected a number in [0, 30], received 99"),
    ("preview", "none", "preview: expected one of approx, live, full, received 'none'"),   # no taesd for a random model
])
def test_bad_input_is_named_and_server_keeps_serving(client, field, value, message):
    with pytest.raises(Exception) as info:
        _generate(client, **{field: value})
    assert message in str(info.value)
    assert "Done" in _generate(client, steps=1)[4]       # the server is still serving


def test_load_recipe_from_png(client):
    image = _generate(client, seed=42, prompt="a red fox")[0]
    fields = client.predict(handle_file(image), api_name="/load_recipe")
    assert fields[0] == "a red fox" and fields[2] == 42


def test_forward_process(client, tmp_path):
    path = tmp_path / "in.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(path)
    gallery = client.predict(handle_file(str(path)), 4, "approx", api_name="/forward_process")
    assert len(gallery) == 4 and gallery[0]["caption"].startswith("t = 0")


def test_a_loaded_recipe_keeps_its_kind(app_url, connect):
    """A PNG of a blend panel (Composable AND), loaded in the Generate tab, is remade as AND, not as plain text."""
    import numpy as np

    from tests.generation.test_legacy_recipes import LEGACY

    client = connect(app_url)                            # a fresh session: the loaded recipe is per session
    png = LEGACY / "blend-and.png"
    prompt, negative, seed, steps, guidance, width, height, scheduler, preview, note = \
        client.predict(handle_file(str(png)), api_name="/load_recipe")
    assert prompt == "van Gogh AND astronaut" and note.startswith("**Loaded the recipe of blend-and.png")
    out = client.predict(prompt, negative, seed, False, steps, guidance, width, height, scheduler, preview,
                         api_name="/generate")
    assert read_png_recipe(out[0]).blend.operator == "and"
    remade = np.asarray(Image.open(out[0]).convert("RGB")).astype(int)
    written = np.asarray(Image.open(png).convert("RGB")).astype(int)
    # the same picture, not bit for bit: the app runs on the test worker's one torch thread and on whatever CPU CI
    # has, where torch's kernels split some sums otherwise and a few pixels come out a level or two apart (CI run of
    # stop 39). Bit-for-bit regeneration at the writer's thread count is tests/generation/test_legacy_recipes.py's.
    assert np.abs(remade - written).max() <= 8 and np.abs(remade - written).mean() < 0.5
    edited = client.predict("a red fox", negative, seed, False, steps, guidance, width, height, scheduler, preview,
                            api_name="/generate")
    assert read_png_recipe(edited[0]).blend is None                  # an edited prompt is a plain prompt again
