"""CI's short version of the real-size benchmark (issue 19, item 1): the same script on the tiny models, every
figure printed as a finite number. No time is asserted (this machine is shared and noisy)."""
from __future__ import annotations

import math
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = [r"explorer, no previews / plain = ([\d.]+)", r"preview approx / plain = ([\d.]+)",
           r"preview live / plain = ([\d.]+)  \(goal <= 1.25\)", r"preview full / plain = ([\d.]+)",
           r"attention maps / plain = ([\d.]+)", r"concept encoding: ([\d.]+) s per 1,000 entries",
           r"nearest concepts over them: ([\d.]+) ms per query", r"concept map \(PCA\) of the 200: ([\d.]+) s",
           r"archive index \(tiny-random-clip, \d+ px input\): ([\d.]+) images/s",
           r"peak memory so far \(ru_maxrss\): ([\d.]+) GiB", r"peak memory \(ru_maxrss\): ([\d.]+) GiB"]


def _run_script(path: Path, args: list[str], monkeypatch, capsys) -> subprocess.CompletedProcess:
    """`python PATH ARGS` run in this process (runpy, as `python` runs a script: __name__ == "__main__"), with the
    script's changes to sys.path and os.environ undone afterwards: its exit code and what it printed. A subprocess
    would add ~10-16 s of imports and nothing this test checks (the figures printed)."""
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))   # the script's setdefault
    monkeypatch.chdir(ROOT)
    capsys.readouterr()
    try:
        runpy.run_path(str(path), run_name="__main__")
        code = 0
    except SystemExit as stop:
        code = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess([str(path), *args], code, out, err)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_the_real_size_benchmark_runs_its_short_version(family, monkeypatch, capsys):
    """Slow: every run of the benchmark (plain, each preview decoder, attention maps, the vocabulary, the archive)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    done = _run_script(ROOT / "bench" / "bench_real_size.py", ["--tiny", "--family", family, "--steps", "3",
                                                               "--vocabulary", "200", "--images", "4"],
                       monkeypatch, capsys)
    assert done.returncode == 0, done.stderr[-2000:]
    for pattern in FIGURES:
        found = re.search(pattern, done.stdout)
        assert found, f"{pattern!r} not in:\n{done.stdout}"
        assert math.isfinite(float(found.group(1))) and float(found.group(1)) >= 0, found.group(0)
    assert f"tiny-random{'-xl' if family == 'sdxl' else ''}, 64 px, 3 steps" in done.stdout
