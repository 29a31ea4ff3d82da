"""`pip install .` works: a wheel built from pyproject.toml, installed elsewhere, runs from any folder.

The wheel is built from a copy of the sources (the build leaves build/ and *.egg-info behind) without
build isolation (no download) and installed with --target into a temporary folder; the console script and
`python -m explorer` then run from a folder that is not the repository, so only the installed copy (and its
assets: tiny-random needs assets/clip_tokenizer) can be found.

Slow (~40 s in CI): pip builds and installs a wheel, and the installed commands run in fresh processes (the process
boundary is what is tested here: the suite's other CLI tests call explorer.cli.main in-process).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "explorer", "assets"]


def _run(args, cwd, env, timeout=180):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyi"))
        else:
            shutil.copy2(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", HF_HUB_OFFLINE="1")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(base / "dist"),
                  str(source)], base, env)
    assert built.returncode == 0, built.stdout + built.stderr
    wheel, = (base / "dist").glob("latent_explorer-*.whl")
    target = base / "site"
    done = _run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)], base, env)
    assert done.returncode == 0, done.stdout + done.stderr
    elsewhere = base / "elsewhere"                 # not the repository: `explorer` can only be the installed one
    elsewhere.mkdir()
    env["PYTHONPATH"] = str(target)
    return wheel, target, elsewhere, env


def test_the_wheel_holds_every_package_and_the_assets(installed):
    wheel, target, _, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.parent.relative_to(ROOT) for p in (ROOT / "explorer").rglob("__init__.py")}
    for package in packages:                       # a new subpackage must be listed in pyproject.toml
        assert f"{package.as_posix()}/__init__.py" in names, f"{package} is missing from pyproject.toml packages"
    for asset in (ROOT / "assets").rglob("*"):
        if asset.is_file():
            assert f"explorer/_assets/{asset.relative_to(ROOT / 'assets').as_posix()}" in names, asset
    metadata = zipfile.ZipFile(wheel).read("latent_explorer-0.1.0.dist-info/METADATA").decode()
    assert "Name: latent-explorer" in metadata and "Version: 0.1.0" in metadata
    assert "Requires-Python: >=3.10" in metadata
    required = sorted(re.findall(r"^Requires-Dist: (.+)$", metadata, re.M))
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    wanted = [line.strip() for line in lines[:lines.index("# tests")] if line.strip() and not line.startswith("#")]
    assert required == sorted(wanted)
    assert "latent-explorer = explorer.cli:main" in zipfile.ZipFile(wheel).read(
        "latent_explorer-0.1.0.dist-info/entry_points.txt").decode()
    assert (target / "explorer" / "_assets" / "clip_tokenizer" / "vocab.json").is_file()


def _run_all(commands: dict[str, list[str]], cwd, env, timeout=180) -> dict[str, subprocess.CompletedProcess]:
    """Each command in its own process, all started at once (they are independent; each pays the imports, ~4 s on 2
    free cores, and one after another they took ~26 s in CI): name -> its finished process."""
    started = {name: subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True) for name, args in commands.items()}
    done = {}
    try:
        for name, process in started.items():
            out, err = process.communicate(timeout=timeout)
            done[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return done


def test_installed_commands_run_from_another_folder(installed):
    _, target, elsewhere, env = installed
    script = target / "bin" / "latent-explorer"     # the console script pip wrote (it calls sys.exit(main()))
    assert script.is_file()
    runs = _run_all({
        "where": [sys.executable, "-c", "import explorer, explorer.models.presets as p; "
                  "print(explorer.__file__); print(p.ASSETS); print(explorer.__version__)"],
        "module help": [sys.executable, "-m", "explorer", "--help"],
        "script help": [sys.executable, str(script), "--help"],
        "ui help": [sys.executable, str(script), "ui", "--help"],
        "tokens": [sys.executable, str(script), "tokens", "--model", "tiny-random", "--prompt", "a cat"],
        "bad": [sys.executable, str(script), "tokens", "--model", "tiny-random", "--prompt", ""],
    }, elsewhere, env)
    where = runs["where"]
    assert where.returncode == 0, where.stderr
    module, assets, version = where.stdout.split()
    assert Path(module).is_relative_to(target) and Path(assets) == target / "explorer" / "_assets"
    assert version == "0.1.0"
    helped = runs["module help"]
    assert helped.returncode == 0 and "tokens" in helped.stdout, helped.stderr
    helped = runs["script help"]
    assert helped.returncode == 0 and "generate" in helped.stdout, helped.stderr
    assert "latent-explorer ui" in helped.stdout and "app.py" not in helped.stdout     # what a pip install has
    helped = runs["ui help"]
    assert helped.returncode == 0 and helped.stdout.startswith("usage: latent-explorer ui"), helped.stderr
    assert "--max-size" in helped.stdout
    tokens = runs["tokens"]
    assert tokens.returncode == 0, tokens.stderr
    assert "cat</w>" in tokens.stdout and "2368" in tokens.stdout        # CLIP's real vocabulary: the assets
    bad = runs["bad"]
    assert bad.returncode == 2 and "error: prompt:" in bad.stderr         # main's exit code reaches the shell
    assert not (elsewhere / "outputs").exists()
