"""CI's short version of the real-size benchmark (issue 19, item 1): the same script on the tiny models, every
figure printed as a finite number. No time is asserted (this machine is shared and noisy)."""
from __future__ import annotations

import math
import os
import re
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


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_the_real_size_benchmark_runs_its_short_version(family):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "bench/bench_real_size.py", "--tiny", "--family", family, "--steps", "3",
                           "--vocabulary", "200", "--images", "4"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for pattern in FIGURES:
        found = re.search(pattern, done.stdout)
        assert found, f"{pattern!r} not in:\n{done.stdout}"
        assert math.isfinite(float(found.group(1))) and float(found.group(1)) >= 0, found.group(0)
    assert f"tiny-random{'-xl' if family == 'sdxl' else ''}, 64 px, 3 steps" in done.stdout
