"""The archive endpoints through gradio_client (a small gr.Blocks with register(ctx)'s endpoints, as app.py
makes them), and the Search tab's gallery helpers."""
from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import handle_file
from PIL import Image

from explorer.concepts.vocabularies import Shelf
from explorer.config import ExplorerConfig
from explorer.ui import archive_api
from explorer.ui.context import AppContext
from explorer.ui.sessions import Sessions
from tests.archive.conftest import LIMIT, needs_miniworld
from tests.servers import close_demo


def _context(model, config) -> AppContext:
    return AppContext(model, config, Sessions(4, 2, Shelf(max_lists=1)))


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """The operator's archive root with one folder of four captioned pictures, and a private folder beside it."""
    root = tmp_path_factory.mktemp("archives")
    for i, colour in enumerate([(220, 30, 30), (30, 30, 220), (30, 200, 30), (230, 200, 20)]):
        path = root / "pics" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("RGB", (24, 24), colour).save(path)
        path.with_suffix(".txt").write_text(f"picture {i}")
    (root.parent / "private").mkdir(exist_ok=True)
    Image.new("RGB", (24, 24), (0, 0, 0)).save(root.parent / "private" / "secret.png")
    return root


@pytest.fixture(scope="module")
def api(tiny_model, shared, tmp_path_factory, connect):
    config = ExplorerConfig(model="tiny-random", cache_dir=tmp_path_factory.mktemp("cache"), archive_roots=(shared,))
    ctx = _context(tiny_model, config)
    with gr.Blocks() as demo:
        archive_api.register(ctx)
        for function, name in ctx.apis:                  # as app.py's build_demo registers ctx.apis
            gr.api(function, api_name=name, concurrency_id="model")
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    yield connect(url)
    close_demo(demo)


def test_retrieve_and_nearest_over_http(api, shared):
    data = api.predict("a red picture", 3, "pics", api_name="/archive_retrieve")
    assert data["archive"] == "folder 'pics'" and len(data["results"]) == 3 and data["coverage"] is None
    assert set(data["results"][0]) == {"rank", "id", "caption", "similarity"}          # no server paths
    assert {r["caption"] for r in data["results"]} <= {f"picture {i}" for i in range(4)}
    near = api.predict(handle_file(str(shared / "pics" / "2.png")), 2, str(shared / "pics"),
                       api_name="/archive_nearest")
    assert near["results"][0]["id"] == "2.png" and near["results"][0]["similarity"] == pytest.approx(1, abs=1e-4)
    assert near["novelty"]["distance"] == pytest.approx(0, abs=1e-4) and "not provenance" in near["novelty"]["sentence"]


@pytest.mark.parametrize("args,message", [
    (("a cat", 3, "../private"), "archive: expected '' (the model's default archive) or a folder inside"),
    (("a cat", 3, ""), "archive: expected a folder of images"),             # tiny-random has no archive of its own
    (("a cat", 0, "pics"), "k: expected an integer in [1, 4]"),
    (("", 3, "pics"), "prompt: expected a non-empty"),
])
def test_bad_requests_are_named_and_the_server_keeps_serving(api, args, message):
    with pytest.raises(Exception) as error:
        api.predict(*args, api_name="/archive_retrieve")
    assert message in str(error.value)
    assert len(api.predict("a cat", 1, "pics", api_name="/archive_retrieve")["results"]) == 1


def test_a_server_path_is_not_an_upload(api, shared):
    with pytest.raises(Exception) as error:
        api.predict(str(shared.parent / "private" / "secret.png"), 1, "pics", api_name="/archive_nearest")
    assert "image: expected an uploaded image" in str(error.value)


def test_gallery_helpers_for_a_folder(tiny_model, shared, tmp_path):
    config = ExplorerConfig(cache_dir=tmp_path / "cache", archive_roots=(shared,))
    ctx = _context(tiny_model, config)
    items, note = archive_api.archive_gallery(ctx, "a red picture", 2, "pics")
    assert len(items) == 2 and all(Path(file).is_file() for file, _ in items)
    assert all("picture" in caption for _, caption in items) and "2 of 4 images" in note
    items, sentence = archive_api.nearest_gallery(ctx, shared / "pics" / "0.png", 1, "pics")
    assert items[0][1].endswith("picture 0") and "ratio" in sentence


@needs_miniworld
def test_gallery_helpers_draw_miniworld_training_images(miniworld, archive_config, training_archive, tmp_path,
                                                        monkeypatch):
    from explorer.archive.retrieval import open_archive

    monkeypatch.setattr(archive_api, "open_archive", functools.partial(open_archive, limit=LIMIT))  # the fixture's
    ctx = _context(miniworld, archive_config)
    items, note = archive_api.archive_gallery(ctx, "a red circle", 4, "")
    assert len(items) == 4 and "miniworld training set" in note
    assert "the archive of 1,000 training images holds" in note and "of them." in note    # what it holds of it
    _, note = archive_api.archive_gallery(ctx, "a green triangle", 4, "")
    assert "holds none. This combination was held out of training on purpose." in note           # the gap
    for file, caption in items:                             # drawn on demand into temp PNGs, 64 x 64
        assert Path(file).name.startswith("train-") and Image.open(file).size == (64, 64)
    picture = tmp_path / "generated.png"
    training_archive[0].image(7).save(picture)
    items, sentence = archive_api.nearest_gallery(ctx, picture, 3, "")
    assert len(items) == 3 and "not provenance" in sentence and items[0][1].startswith("+1.000")


def test_the_operator_names_the_roots_with_archive_root():
    from explorer.ui.settings import parse_args

    config = parse_args(["--archive-root", "/srv/photos", "--archive-root", "scans"], environ={})
    assert config.archive_roots == (Path("/srv/photos"), Path("scans"))
    assert parse_args([], environ={}).archive_roots == ()
