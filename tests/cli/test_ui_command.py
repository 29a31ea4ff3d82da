"""The console command starts the UI as its --help says (`latent-explorer ui`, the app's options), and the size cap
is configuration (--max-size in the app and the CLI) while SDXL's bucket sizes pass by default."""
from __future__ import annotations

import sys

import pytest

import explorer.cli.ui as ui_verb
from explorer.cli import build_parser, main
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.recipe import Recipe, validate
from explorer.ui.settings import parse_args


class Started(Exception):
    """Raised instead of exec'ing the server."""


def test_help_names_the_ui_verb_not_app_py():
    text = build_parser().format_help()
    assert " ui" in text and "app.py" not in text


def test_ui_help_lists_the_apps_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["ui", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "ui" in out.splitlines()[0] and "--max-size" in out and "--port" in out


def test_ui_starts_the_server_module_with_the_options(monkeypatch):
    seen = []

    def execv(path, command):
        seen.append(command)
        raise Started
    monkeypatch.setattr(ui_verb.os, "execv", execv)
    with pytest.raises(Started):
        main(["ui", "--model", "miniworld", "--port", "7999", "--max-size", "2048"])
    assert seen == [[sys.executable, "-m", "explorer.ui.serve", "--model", "miniworld", "--port", "7999",
                     "--max-size", "2048"]]


def test_a_bad_ui_option_exits_2_naming_it(capsys, monkeypatch):
    monkeypatch.setattr(ui_verb.os, "execv", lambda *a: pytest.fail("started despite a bad option"))
    assert main(["ui", "--port", "abc"]) == 2
    assert "--port" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:                 # other verbs still refuse options they do not know
        main(["tokens", "--model", "tiny-random", "--prompt", "x", "--no-such-option"])
    assert info.value.code == 2


def test_max_size_is_configuration():
    assert parse_args(["--max-size", "2048"]).max_size == 2048
    for bad in ("12", "1001", "100000"):
        with pytest.raises(InputError) as caught:
            parse_args(["--max-size", bad])
        assert caught.value.field == "--max-size"
    for width, height in ((832, 1216), (1216, 832), (896, 1152), (1536, 640)):      # SDXL's buckets, by default
        validate(Recipe(model="sdxl", prompt="x", width=width, height=height))
    with pytest.raises(InputError, match="^width: "):
        validate(Recipe(model="sdxl", prompt="x", width=1216, height=832), ExplorerConfig(max_size=1024))


def test_cli_max_size_is_checked_before_the_model_loads(capsys):
    assert main(["generate", "--model", "tiny-random", "--prompt", "x", "--max-size", "7"]) == 2
    assert "--max-size" in capsys.readouterr().err
