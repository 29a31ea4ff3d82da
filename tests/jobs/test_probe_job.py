"""Issue 19, item 4: a bias probe as Ray tasks (a local one-CPU cluster here), resumable, writing what the
single-machine probe computes, image for image and count for count."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.cli import main
from explorer.errors import InputError
from explorer.explore.probe import bias_probe
from explorer.generation.recipe import recipe_defaults
from explorer.jobs.probe_job import ProbeJob, run_probe_job
from explorer.models.vision import load_vision

JOB = ProbeJob("tiny-random", ("a red fox", "a cat"), {"kind": ["a photo", "a drawing"]}, seeds=5, shard=2, steps=2)


def test_a_job_stops_resumes_and_matches_the_single_machine_probe(ray_cluster, tiny_model, tmp_path):
    folder = tmp_path / "job"
    assert run_probe_job(JOB, folder, cpus=1, stop_after=1) is None                 # stopped after one shard
    assert sorted(p.name for p in (folder / "shards").iterdir()) == ["00000.json"]
    ran = []
    summary = run_probe_job(JOB, folder, cpus=1, progress=lambda done, total: ran.append((done, total)))
    assert ran == [(2, 3), (3, 3)]                                                   # only the missing shards ran
    assert json.loads((folder / "probe.json").read_text()) == json.loads(json.dumps(summary))
    # the single-machine path: one call of bias_probe over the same seeds, with one CPU thread as a Ray task has
    # (Ray sets OMP_NUM_THREADS to the task's CPUs; another thread count rounds floats in another order)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = bias_probe(tiny_model, recipe_defaults(tiny_model, "a red fox", seed=0, steps=2), list(JOB.prompts),
                            5, JOB.attributes, vision=load_vision(tiny_model))
    finally:
        torch.set_num_threads(threads)
    assert summary["seeds"] == single.seeds == [0, 1, 2, 3, 4] and summary["measured"] and summary["shards"] == 3
    assert summary["counts"] == single.counts
    for name, by_prompt in single.mean_probability.items():
        for prompt, row in by_prompt.items():
            assert summary["mean_probability"][name][prompt] == pytest.approx(row, abs=1e-5)
    for prompt, results in single.images.items():                                   # image for image
        files = summary["images"][prompt]
        assert len(files) == 5
        for file, result in zip(files, results):
            assert np.array_equal(np.asarray(Image.open(folder / file).convert("RGB")), np.asarray(result.image))


def test_a_folder_holds_one_job(ray_cluster, tmp_path):
    folder = tmp_path / "job"
    run_probe_job(JOB, folder, cpus=1, stop_after=1)
    other = ProbeJob("tiny-random", ("a red fox", "a dog"), JOB.attributes, seeds=5, shard=2, steps=2)
    with pytest.raises(InputError, match="out_dir: expected a new folder, or the folder of this same job"):
        run_probe_job(other, folder, cpus=1)
    with pytest.raises(InputError, match="shard: expected an integer in \\[1, 64\\]"):
        run_probe_job(ProbeJob("tiny-random", JOB.prompts, JOB.attributes, seeds=5, shard=0), tmp_path / "x")


def test_the_probe_job_verb(ray_cluster, tmp_path, capsys):
    args = ["probe-job", "--model", "tiny-random", "--prompts", "a red fox", "a cat", "--attributes",
            "kind: a photo | a drawing", "--seeds", "3", "--shard", "2", "--steps", "2", "--cpus", "1",
            "--out-dir", str(tmp_path / "cli")]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == 3 and out["shards"] == 2 and sum(out["counts"]["kind"]["a cat"]) == 3
    assert main([*args[:-2], "--out-dir", str(tmp_path / "cli2"), "--shard", "100"]) == 2
    assert "shard: expected an integer in [1, 64]" in capsys.readouterr().err
