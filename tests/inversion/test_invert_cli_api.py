"""Inversion through the CLI (`invert`, `interpolate --images`) and the HTTP API (/invert, /invert_walk), with the
bad inputs a user brings: no image, a decompression bomb, another size, a prompt past the limit."""
from __future__ import annotations

import json

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from tests.bombs import bomb_png
from tests.cli.test_cli import run


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(0)
    paths = []
    for i, size in enumerate([(32, 32), (48, 40)]):                     # the second: another size (resized)
        path = folder / f"p{i}.png"
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    (folder / "notes.png").write_text("not a picture")
    return paths + [folder / "notes.png", bomb_png(folder / "bomb.png")]


def test_cli_invert_writes_the_files(tmp_path, pictures):
    out = run("invert", "--model", "tiny-random", "--image", str(pictures[1]), "--prompt", "a lighthouse",
              "--steps", "3", "--guidance", "1", "--refine", "1", "--edit", "a tower", "--out-dir", "inv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "inv"
    assert {p.name for p in folder.iterdir()} == {"original.png", "reconstruction.png", "noise.npy", "invert.json",
                                                  "edit.png"}
    summary = json.loads((folder / "invert.json").read_text())
    assert summary["prompt"] == "a lighthouse" and summary["prompt_source"] == "given" and summary["steps"] == 3
    assert isinstance(summary["psnr"], float) and "48x40" in summary["notes"][0]         # resized, and said so
    assert isinstance(summary["psnr_vs_vae_round_trip"], float)      # what the inversion loses beyond the VAE
    assert np.load(folder / "noise.npy").shape == (1, 4, 16, 16)      # tiny-random: 2 px a cell
    assert Image.open(folder / "reconstruction.png").size == (32, 32)


@pytest.mark.parametrize("which,message", [(2, "image: expected"), (3, "image: expected")])
def test_cli_refuses_non_images_and_bombs(tmp_path, pictures, which, message):
    out = run("invert", "--model", "tiny-random", "--image", str(pictures[which]), "--prompt", "x", "--out-dir",
              "inv", cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_cli_interpolate_between_two_pictures(tmp_path, pictures):
    out = run("interpolate", "--model", "tiny-random", "--images", str(pictures[0]), str(pictures[1]),
              "--prompts", "a lighthouse", "a tower", "--steps", "2", "--frames", "3", "--out", "walk.gif",
              "--outputs", "frames", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert printed["frames"] == 3 and printed["prompts"] == ["a lighthouse", "a tower"]
    assert Image.open(tmp_path / "walk.gif").n_frames == 3
    assert len(list((tmp_path / "frames").glob("*/*-inverted-walk-f*.png"))) == 3          # frames/<date>/


def test_api_invert_and_walk(client, pictures):
    data = client.predict(handle_file(str(pictures[1])), "a lighthouse", 2, 1.0, "ddim", "a tower",
                          api_name="/invert")
    assert data["steps"] == 2 and data["prompt"] == "a lighthouse" and data["edit"] == {"prompt": "a tower"}
    assert "48x40" in data["notes"][0] and data["archive"] is None            # tiny-random has no archive
    assert set(data["noise"]) >= {"mean", "std", "ks", "neighbour_corr", "chi2_z"} and "typical" in data
    walk = client.predict(handle_file(str(pictures[0])), handle_file(str(pictures[1])), 3, "a lighthouse", 2,
                          api_name="/invert_walk")
    assert walk["frames"] == 3 and walk["positions"] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("which,prompt,message", [(2, "x", "image: expected"), (0, "word " * 100, "prompt:")])
def test_api_refusals_name_the_field(client, pictures, which, prompt, message):
    with pytest.raises(Exception) as refused:
        client.predict(handle_file(str(pictures[which])), prompt, 2, 1.0, "ddim", "", api_name="/invert")
    assert message in str(refused.value)


def test_the_lessons_inversion_chapter_runs_through_the_api(client):
    """The lesson's chapter (assets/lessons, view "invert"): a picture of the model's own example prompt made, inverted
    in 10 steps and edited under the chapter's prompt; the API twin of its "show me" returns the view's outputs."""
    out = client.predict(api_name="/lesson_inversion")
    pictures = next(o for o in out if isinstance(o, list) and o and isinstance(o[0], dict) and "image" in o[0])
    assert len(pictures) == 3 and "at night" in pictures[2]["caption"]          # original, reconstruction, edit
    assert any(isinstance(o, str) and "dB PSNR" in o for o in out)             # the figures: PSNR, the noise
