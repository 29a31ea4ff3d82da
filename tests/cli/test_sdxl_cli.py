"""SDXL through the CLI: `python -m explorer <verb> --model tiny-random-xl` for every verb."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.cli import main
from explorer.outputs.png import read_png_recipe
from tests.cli.test_cli import run

ROOT = Path(__file__).resolve().parents[2]
XL = ["--model", "tiny-random-xl"]


def test_generate_as_a_user_runs_it(tmp_path):
    """`python -m explorer generate` as a user types it, in this process (tests/cli/test_cli.py's run: main(argv),
    its exit code and output; the process boundary itself is tested in tests/cli/test_install.py)."""
    out = tmp_path / "fig.png"
    result = run("generate", *XL, "--prompt", "Wanderer above the sea of fog", "--seed", "0", "--steps", "3", "--out",
                 str(out), cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    recipe = read_png_recipe(out)
    assert recipe.model == "tiny-random-xl" and recipe.steps == 3


def test_every_verb_on_sdxl(tmp_path, capsys):
    assert main(["tokens", *XL, "--prompt", "Sankt Martin", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [e["encoder"] for e in report["encoders"]] == ["text_encoder", "text_encoder_2"]
    assert main(["neighbors", *XL, "--expr", "king - man + woman", "--k", "3", "--vocabulary", "tokenizer"]) == 0
    assert main(["blend", *XL, "--a", "van Gogh", "--b", "astronaut", "--steps", "1", "--size", "64",
                 "--out-dir", str(tmp_path / "blend")]) == 0
    assert len(list((tmp_path / "blend").glob("*.png"))) == 7
    assert main(["interpolate", *XL, "--prompts", "a red circle", "a blue square", "--frames", "3", "--steps", "1",
                 "--size", "64", "--out", str(tmp_path / "walk.gif"), "--outputs", str(tmp_path / "walk")]) == 0
    assert main(["search", *XL, "--prompt", "a red circle", "--seeds", "2", "--steps", "1", "--size", "64",
                 "--out-dir", str(tmp_path / "search")]) == 0
    assert main(["axis", *XL, "--poles", "summer", "winter", "--vocabulary", "tokenizer"]) == 0
    capsys.readouterr()


def test_turbo_guidance_and_bad_sizes_exit_2_with_the_field(capsys):
    assert main(["generate", *XL, "--prompt", "x", "--width", "60"]) == 2
    assert "width" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["generate", "tokens"])
def test_help_names_the_sdxl_presets(verb, capsys):
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    out = capsys.readouterr().out
    assert "sdxl" in out and "tiny-random-xl" in out and "--low-memory" in out
