"""miniworld's own archive: its training set drawn again, retrieval that matches the scenes, nearest images of a
generated picture that the pixel oracle agrees with, and the `archive` verb."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from explorer.archive.gaps import coverage, gap_notes
from explorer.archive.sources import TRAINING_RECORD, default_source, training_source
from explorer.explore.search import search
from explorer.generation.recipe import recipe_defaults
from explorer.models.presets import MINIWORLD_DIR
from explorer.world import oracle
from explorer.world.scenes import HELD_OUT, Scene, make_dataset, make_scenes, matches, parse_caption, render
from tests.archive.conftest import LIMIT, needs_miniworld

pytestmark = needs_miniworld


@pytest.fixture(scope="module")
def red_circles(miniworld):
    """Three generated "a red circle" pictures (10 steps)."""
    from explorer.generation.generate import generate
    from explorer.generation.recipe import recipe_defaults

    return [generate(miniworld, recipe_defaults(miniworld, "a red circle", seed=seed, steps=10), watch=False).image
            for seed in range(3)]


def test_the_archive_is_the_training_set_train_py_used():
    record = json.loads((MINIWORLD_DIR / TRAINING_RECORD).read_text())["config"]
    assert (record["images"], record["seed"]) == (20000, 0)
    source = training_source(MINIWORLD_DIR)
    assert len(source) == 20000 and source.name == "miniworld training set (20,000 images)"
    # make_dataset is make_scenes + render: the archive's images are train.py's images, pixel for pixel
    small = make_dataset(50, 3)
    scenes, captions = make_scenes(50, 3)
    assert scenes == small.scenes and captions == small.captions
    assert tuple(record["held_out"]) == source.held_out == HELD_OUT
    first = make_dataset(30, record["seed"], HELD_OUT)          # scenes (not captions) do not depend on n
    assert source.scenes[:30] == first.scenes
    assert all(np.array_equal(np.asarray(source.open(f"train/{i:05d}")), first.images[i]) for i in (0, 7, 29))
    limited = training_source(MINIWORLD_DIR, limit=100)
    assert limited.captions == source.captions[:100] and limited.content_key != source.content_key
    assert source.path("train/00001") is None


def test_retrieval_returns_training_images_whose_scenes_match(training_archive):
    from explorer.archive.retrieval import retrieve

    archive, vision = training_archive
    assert len(archive) == LIMIT and archive.ids[42] == "train/00042"
    scenes = archive.source.scenes
    for prompt in ("a red circle", "a blue square", "a green cross", "a big yellow triangle"):
        result = retrieve(archive, vision, prompt, k=10)
        hits = [matches(parse_caption(prompt), scenes[hit.row]) for hit in result.hits]
        assert sum(hits) >= 9, (prompt, [(h.id, h.caption) for h in result.hits])
        assert all(h.caption == archive.source.captions[h.row] for h in result.hits)
        assert [h.similarity for h in result.hits] == sorted((h.similarity for h in result.hits), reverse=True)


def test_nearest_images_of_a_generated_red_circle_are_red_circles(training_archive, red_circles):
    from explorer.archive.retrieval import nearest_images

    archive, vision = training_archive
    readings = []
    for picture in red_circles:
        result = nearest_images(archive, vision, picture, k=5)
        readings += [oracle.read(np.asarray(archive.image(hit.row))) for hit in result.hits]
        assert all(archive.source.scenes[h.row].shape == "circle" for h in result.hits)
        figure = result.novelty
        assert figure.ratio is not None and figure.sample == LIMIT and "not provenance" in figure.sentence
        assert figure.distance == pytest.approx(1 - result.hits[0].similarity, abs=1e-5)
    share = sum(r.agrees(colour="red", shape="circle") for r in readings) / len(readings)
    assert share >= 0.9, readings
    # a training image itself lies at distance 0: ratio 0, nearer than any archive image to another
    own = nearest_images(archive, vision, archive.image(42), k=1)
    assert own.novelty.ratio == pytest.approx(0, abs=1e-3) and own.novelty.closer_share == 0.0


def test_a_held_out_combination_is_a_gap_that_the_archive_shows():
    source = training_source(MINIWORLD_DIR)                         # all 20,000: counting needs no index
    gap = coverage(source, "a big green triangle on the left")
    assert gap.combination == "green triangle" and gap.held_out and gap.count == 0
    assert min(gap.colour_shapes[s] for s in ("circle", "square", "cross")) > 500     # green, in other shapes
    assert gap.shape_colours["yellow"] > 3000 and gap.shape_colours.get("green", 0) == 0   # triangles, other colours
    assert "holds none. This combination was held out of training on purpose." in gap.sentence and "green shapes (" in gap.sentence
    seen = coverage(source, "a red circle")
    assert seen.count > 500 and not seen.held_out and "holds none" not in seen.sentence
    assert coverage(source, "a circle") is None and coverage(source, "red") is None     # nothing to look up


def test_retrieval_and_nearest_images_report_the_gap(training_archive):
    from explorer.archive.retrieval import nearest_images, retrieve

    archive, vision = training_archive
    found = retrieve(archive, vision, "a green triangle", k=5)
    assert found.coverage.count == 0 and found.coverage.held_out
    assert not any(archive.source.scenes[h.row].colour == "green" and archive.source.scenes[h.row].shape == "triangle"
                   for h in found.hits)
    # a picture of a green triangle (drawn by the world itself, as a model that fills the gap would draw it)
    picture = render(Scene("triangle", "green", "large", "middle"))
    near = nearest_images(archive, vision, Image.fromarray(picture), k=3)
    assert near.coverage.drawn == "picture" and near.coverage.combination == "green triangle"
    assert "sits in a gap" in near.coverage.sentence
    assert nearest_images(archive, vision, archive.image(0), k=1).coverage.count > 0    # a training image: no gap


def test_a_search_page_counts_the_results_that_fill_the_gap(miniworld):
    drawn = [Image.fromarray(render(Scene("triangle", colour, "large", "left"))) for colour in ("green", "yellow")]
    notes = gap_notes(miniworld, "a green triangle", drawn)
    assert "holds none" in notes[0]
    assert notes[1] == "The pixel oracle reads 1 of 2 results as a green triangle: made in the gap."
    assert gap_notes(miniworld, "a lighthouse", drawn) == []                  # nothing the archive can count


def test_search_adds_the_gap_notes_its_caller_hands_it(miniworld):
    """Generic search knows no archive: the UI and the CLI hand it the archive's gap notes (issue 27)."""
    base = recipe_defaults(miniworld, "a green triangle", steps=2, seed=0)
    page = search(miniworld, base, 2, related=0, annotate=gap_notes)
    assert page.notes[-2].startswith("The prompt asks for a green triangle: the archive of")
    assert page.notes[-1].startswith("The pixel oracle reads ") and page.notes[-1].endswith("made in the gap.")
    assert not any("archive" in note for note in search(miniworld, base, 2, related=0).notes)


def test_the_search_verb_still_notes_the_gap(tmp_path, monkeypatch, capsys):
    from explorer.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["search", "--model", "miniworld", "--prompt", "a green triangle", "--seeds", "1", "--steps", "2",
                 "--out-dir", str(tmp_path / "out")]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any(note.startswith("The prompt asks for a green triangle") and "holds none" in note for note in notes)


def test_archive_verb_prints_json(miniworld, training_archive, red_circles, archive_cache, tmp_path, monkeypatch,
                                  capsys):
    from explorer.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(archive_cache))          # the fixture's index: no second build
    assert main(["archive", "--model", "miniworld", "--prompt", "a red circle", "--k", "3", "--limit", str(LIMIT),
                 "--json"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["prompt"] == "a red circle" and len(data["results"]) == 3
    assert set(data["results"][0]) == {"rank", "id", "caption", "similarity", "path"}
    assert data["results"][0]["id"].startswith("train/") and data["results"][0]["path"] is None
    assert data["coverage"]["combination"] == "red circle" and data["coverage"]["count"] > 0
    picture = tmp_path / "red.png"
    red_circles[0].save(picture)
    assert main(["archive", "--model", "miniworld", "--image", str(picture), "--k", "2", "--limit", str(LIMIT),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["novelty"]["ratio"] is not None and "not provenance" in data["novelty"]["sentence"]
    assert len(data["results"]) == 2
    assert main(["archive", "--model", "miniworld", "--prompt", "a red circle", "--k", "0", "--limit", "10"]) == 2
    assert "k: expected an integer in [1, 10]" in capsys.readouterr().err
    assert main(["archive", "--model", "miniworld", "--prompt", "a red circle", "--max-images", "0"]) == 2
    assert "max_images: expected an integer in [1, 10000000], received 0" in capsys.readouterr().err


def test_archive_verb_without_a_default_archive_asks_for_a_folder(tmp_path, monkeypatch, capsys):
    from explorer.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["archive", "--model", "tiny-random", "--prompt", "a cat"]) == 2
    err = capsys.readouterr().err
    assert "archive: expected a folder of images (--archive DIR)" in err and "no archive of its own" in err
    assert main(["archive", "--model", "tiny-random", "--image", str(tmp_path / "none.png")]) == 2
    assert "image: expected an existing image file" in capsys.readouterr().err
    folder = tmp_path / "pics"
    folder.mkdir()
    for i, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        Image.new("RGB", (16, 16), colour).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"picture {i}")
    assert main(["archive", "--model", "tiny-random", "--prompt", "a cat", "--archive", str(folder), "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "picture 0" in out and "picture 1" in out and str(folder) in out


def test_other_models_have_no_default_archive(tiny_model):
    assert default_source(tiny_model) is None
