"""Issue 19, item 4: an archive index as Ray tasks (a local one-CPU cluster here), resumable, merged into the very
cache file the single-machine index writes: the app and the `archive` verb then load it instead of building it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.archive.index import EMBED_CHUNK, embed_source, load_archive
from explorer.archive.novelty import nearest_other_distances, sample_rows
from explorer.archive.sources import folder_source
from explorer.cli import main
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.jobs.index_job import IndexJob, run_index_job
from explorer.models.vision import load_vision

IMAGES = 2 * EMBED_CHUNK + 40          # three shards of EMBED_CHUNK, the last one short


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of IMAGES small pictures (some captioned), one broken file and one non-image file."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(IMAGES):
        pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i:04d}.png")
        if i % 7 == 0:
            (folder / f"img{i:04d}.txt").write_text(f"picture number {i}")
    (folder / "img0300.png").write_bytes(b"not a png")                 # unreadable: counted, not fatal
    (folder / "readme.md").write_text("not an image")
    return folder


def test_a_job_stops_resumes_and_writes_the_single_machine_index(ray_cluster, tiny_model, photos, tmp_path):
    job = IndexJob("tiny-random", str(photos), shard=EMBED_CHUNK)
    config = ExplorerConfig(cache_dir=tmp_path / "cache")
    folder = tmp_path / "job"
    assert run_index_job(job, folder, config=config, cpus=1, stop_after=1) is None    # stopped after one shard
    assert sorted(p.name for p in (folder / "shards").iterdir()) == ["00000.npz"]
    ran = []
    summary = run_index_job(job, folder, config=config, cpus=1, progress=lambda done, total: ran.append((done, total)))
    assert ran == [(2, 3), (3, 3)]                                                   # only the missing shards ran
    assert summary["images"] == IMAGES - 1 and summary["shards"] == 3
    assert summary["skipped"] == {"unreadable": 1, "non_image": 1}
    assert json.loads((folder / "index.json").read_text()) == summary
    # the single-machine path, with one CPU thread as a Ray task has: the same rows, floats and all
    vision = load_vision(tiny_model)
    source = folder_source(photos, 10_000)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ids, captions, embeddings, skipped = embed_source(source, vision)
    finally:
        torch.set_num_threads(threads)
    loaded = load_archive(source, vision, config, memory=False)                     # reads the job's cache file
    assert loaded.note.startswith(f"Loaded {IMAGES - 1:,} images") and str(loaded.path) == summary["cache"]
    assert loaded.ids == ids and loaded.captions == captions and loaded.captions[7] == "picture number 7"
    assert np.array_equal(loaded.embeddings, embeddings)
    assert np.array_equal(loaded.spacing, nearest_other_distances(embeddings, sample_rows(len(ids))))
    assert loaded.skipped == source.skipped + skipped


def test_a_folder_holds_one_job_over_the_same_images(ray_cluster, tiny_model, photos, tmp_path):
    photos = Path(shutil.copytree(photos, tmp_path / "photos"))                     # this test changes a file
    job = IndexJob("tiny-random", str(photos), shard=EMBED_CHUNK, limit=2 * EMBED_CHUNK)
    config = ExplorerConfig(cache_dir=tmp_path / "cache")
    folder = tmp_path / "job"
    run_index_job(job, folder, config=config, cpus=1, stop_after=1)
    with pytest.raises(InputError, match="out_dir: expected a new folder, or the folder of this same job"):
        run_index_job(IndexJob("tiny-random", str(photos), shard=2 * EMBED_CHUNK), folder, config=config, cpus=1)
    (photos / "img0001.png").write_bytes((photos / "img0002.png").read_bytes())      # the archive changes
    with pytest.raises(InputError, match="archive: expected the images the job began with"):
        run_index_job(job, folder, config=config, cpus=1)
    with pytest.raises(InputError, match=f"shard: expected a multiple of {EMBED_CHUNK}"):
        IndexJob("tiny-random", str(photos), shard=EMBED_CHUNK + 1).check()
    with pytest.raises(InputError, match="archive: expected an existing folder of images"):
        run_index_job(IndexJob("tiny-random", str(tmp_path / "none")), tmp_path / "x", config=config, cpus=1)


def test_the_index_job_verb_then_the_archive_verb_loads_its_index(ray_cluster, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "few"
    folder.mkdir()
    for i, colour in enumerate(["red", "blue", "green"]):
        Image.new("RGB", (16, 16), colour).save(folder / f"{colour}.png")
        (folder / f"{colour}.txt").write_text(f"a {colour} square {i}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    args = ["index-job", "--model", "tiny-random", "--archive", str(folder), "--cpus", "1",
            "--out-dir", str(tmp_path / "job")]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 3 and out["shards"] == 1 and str(tmp_path / "xdg") in out["cache"]
    assert main(["archive", "--model", "tiny-random", "--archive", str(folder), "--prompt", "red", "--k", "3",
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert "Loaded 3 images of the folder 'few' from the disk cache" in captured.err
    assert len(json.loads(captured.out)["results"]) == 3
    assert main([*args[:-2], "--out-dir", str(tmp_path / "job2"), "--shard", "100"]) == 2
    assert f"shard: expected an integer in [{EMBED_CHUNK}, " in capsys.readouterr().err
