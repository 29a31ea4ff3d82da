"""The command line as a user runs it: a PNG whose parameters read back, clear errors with exit 2."""
from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

from PIL import Image

from explorer.outputs.png import read_png_recipe
from tests.bombs import bomb_png

ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd) -> subprocess.CompletedProcess:
    """`python -m explorer ARGS` run in `cwd`, in this process: explorer.cli.main(ARGS) as explorer/__main__.py calls
    it, its exit code (argparse's SystemExit included) and what it printed. A subprocess would add ~10-16 s of
    imports per call and nothing these tests check; the process itself (start-up, the exit code reaching the shell)
    is tested once, on the installed copy, in tests/cli/test_install.py."""
    from explorer.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as stop:
            code = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_generate_writes_png_gif_and_steps(tmp_path):
    out = run("generate", "--model", "tiny-random", "--prompt", "a lighthouse", "--seed", "0", "--steps", "3",
              "--out", "img.png", "--gif", "steps.gif", "--steps-dir", "steps", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    recipe = read_png_recipe(tmp_path / "img.png")
    assert (recipe.prompt, recipe.seed, recipe.steps) == ("a lighthouse", 0, 3)
    assert "Steps: 3, Sampler: DDIM, Schedule type: Automatic, CFG scale: 7.5, Seed: 0, Size: 32x32" in Image.open(tmp_path / "img.png").text["parameters"]
    assert Image.open(tmp_path / "steps.gif").n_frames == 3
    assert len(list((tmp_path / "steps").glob("*.png"))) == 6
    # the same recipe from the PNG gives the same pixels
    again = run("generate", "--model", "tiny-random", "--from-png", "img.png", "--out", "again.png", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert list(Image.open(tmp_path / "img.png").getdata()) == list(Image.open(tmp_path / "again.png").getdata())
    # never overwrite
    clash = run("generate", "--model", "tiny-random", "--prompt", "x", "--out", "img.png", cwd=tmp_path)
    assert clash.returncode == 2 and "out: expected a path that does not exist yet" in clash.stderr


def test_bad_input_exits_2_with_field(tmp_path, capsys, monkeypatch):
    from explorer.cli import main

    monkeypatch.chdir(tmp_path)
    cases = [(["--width", "65"], "width: expected"), (["--steps", "0"], "steps: expected an integer in [1, 150]"),
             (["--seed", "4294967296"], "seed: expected"), (["--scheduler", "magic"], "scheduler: expected one of"),
             (["--prompt", ""], "prompt: expected a non-empty prompt")]
    for extra, message in cases:
        args = ["generate", "--model", "tiny-random", "--prompt", "a cat", "--steps", "2", *extra]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
    assert main(["generate", "--model", "no such model", "--prompt", "x"]) == 2
    assert "model: expected a preset" in capsys.readouterr().err


def test_help_lists_verbs(capsys):
    import pytest

    from explorer.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "generate" in out and "forward" in out


def test_bad_files_and_folders_are_named_without_a_traceback(tmp_path, capsys, monkeypatch):
    from explorer.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    Image.new("RGB", (12_000, 12_000)).save(tmp_path / "bomb.png", optimize=True)      # 144 M pixels in ~140 KB
    bomb_png(tmp_path / "big.png")                                                     # above PIL's own limit
    (tmp_path / "a-file").write_text("x")
    cases = [
        (["generate", "--model", "tiny-random", "--from-png", "missing.png"], "image: expected an existing image file"),
        (["generate", "--model", "tiny-random", "--from-png", "notes.txt"], "image: expected a PNG or JPEG image"),
        (["generate", "--model", "tiny-random", "--from-png", "bomb.png"], "image: expected an image of at most"),
        (["info", "missing.png"], "png: expected an existing image file"),
        (["info", "bomb.png"], "png: expected an image of at most"),
        (["info", "big.png"], "png: expected an image of at most 16,777,216 pixels, received '400,000,000 pixels'"),
        (["generate", "--model", "tiny-random", "--from-png", "big.png"], "image: expected an image of at most"),
        (["forward", "--model", "tiny-random", "--image", "big.png", "--out", "f.png"], "image: expected an image of"),
        (["archive", "--model", "tiny-random", "--image", "big.png"], "image: expected an image of at most"),
        (["forward", "--model", "tiny-random", "--image", "notes.txt", "--out", "f.png"], "image: expected a PNG"),
        (["generate", "--model", "tiny-random", "--prompt", "x", "--steps", "1", "--out", "a-file/img.png"],
         "out: expected a path inside a folder"),
        (["search", "--model", "tiny-random", "--prompt", "x", "--steps", "1", "--seeds", "1", "--out-dir", "a-file"],
         "out_dir: expected a new or empty folder"),
    ]
    for args, message in cases:                        # in-process, as test_bad_input_exits_2_with_field: fast
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err, (args, err)
    assert main(["generate", "--model", "tiny-random", "--prompt", "x", "--steps", "1", "--out",
                 "new/folder/img.png"]) == 0                                           # a missing folder is made


def test_a_model_folder_that_cannot_load_says_why_and_exits_3(tmp_path):
    folder = tmp_path / "bin-only"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline", "unet": '
                                             '["diffusers", "UNet2DConditionModel"]}')
    (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"not safetensors")
    out = run("generate", "--model", str(folder), "--prompt", "x", "--steps", "1", "--out", "img.png", cwd=tmp_path)
    assert out.returncode == 3 and "Traceback" not in out.stderr, out.stderr
    assert "the folder could not be loaded" in out.stderr and "local cache" not in out.stderr
    assert "error: model:" in out.stderr                                              # ran on the offline model


def test_every_output_path_error_names_its_option_before_anything_is_written(tmp_path, capsys, monkeypatch):
    """A path that cannot be written (here: below a file) is refused naming its option, exit 2, before the model runs
    and before any file is written; these printed a bare OSError ("a-file/sub: Not a directory") before."""
    from explorer.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    Image.new("RGB", (64, 64)).save(tmp_path / "img.png")
    run = ["--model", "tiny-random", "--steps", "1"]
    walk = ["interpolate", *run, "--prompts", "a", "b", "--frames", "2"]
    cases = [
        (["generate", *run, "--prompt", "x", "--out", "a-file/sub/x.png"], "out"),
        (["generate", *run, "--prompt", "x", "--out", "new1.png", "--gif", "a-file/sub/x.gif"], "gif"),
        (["generate", *run, "--prompt", "x", "--out", "new2.png", "--sheet", "a-file/sub/x.png"], "sheet"),
        (["generate", *run, "--prompt", "x", "--out", "new3.png", "--steps-dir", "a-file"], "steps_dir"),
        (["generate", *run, "--prompt", "x", "--out", "new4.png", "--steps-dir", "a-file/sub"], "steps_dir"),
        (["generate", *run, "--prompt", "x", "--outputs", "a-file/sub"], "outputs"),
        (["forward", "--model", "tiny-random", "--image", "img.png", "--out", "a-file/sub/x.png"], "out"),
        (["attention", *run, "--prompt", "x", "--out-dir", "a-file/sub"], "out_dir"),
        (["blend", *run, "--a", "x", "--b", "y", "--out-dir", "a-file/sub"], "out_dir"),
        ([*walk, "--out", "a-file/sub/x.gif"], "out"),
        ([*walk, "--out", "w1.gif", "--mp4", "a-file/sub/x.mp4"], "mp4"),
        ([*walk, "--out", "w2.gif", "--outputs", "a-file/sub"], "outputs"),
        (["search", *run, "--prompt", "x", "--seeds", "1", "--out-dir", "a-file/sub"], "out_dir"),
        (["probe", *run, "--seeds", "1", "--out-dir", "a-file/sub"], "out_dir"),
        (["map", "--model", "tiny-random", "--prompt", "x", "--method", "pca", "--out", "a-file/sub/m.html"], "out"),
        (["probe-job", "--model", "tiny-random", "--seeds", "2", "--out-dir", "a-file/sub"], "out_dir"),
        (["index-job", "--model", "tiny-random", "--archive", str(tmp_path), "--out-dir", "a-file/sub"], "out_dir"),
    ]
    for args, option in cases:
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2 and f"error: {option}: expected " in err and "Traceback" not in err, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "img.png"]          # nothing written


def test_a_model_folder_without_model_index_exits_3_as_the_readme_says(tmp_path, capsys):
    """README, Command line: "A model that cannot load exits 3 with the reason (... what is wrong with a local
    folder)"; a folder without model_index.json exited 2 before."""
    from explorer.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "A model that cannot load exits 3" in readme
    (tmp_path / "not-a-model").mkdir()
    code = main(["generate", "--model", str(tmp_path / "not-a-model"), "--prompt", "x", "--out",
                 str(tmp_path / "img.png")])
    err = capsys.readouterr().err
    assert code == 3 and "has no model_index.json" in err and "Traceback" not in err, err
    assert not (tmp_path / "img.png").exists()
