"""A folder as an archive (tiny random CLIP): captions, what is skipped and why, the roots, the disk cache."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from explorer.archive.index import load_archive
from explorer.archive.retrieval import nearest_images, open_archive, retrieve
from explorer.archive.sources import allowed_folder, folder_source
from explorer.cache import LRUCache
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.models.vision import load_vision


def _png(path: Path, colour, size=(40, 30), parameters: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    info = PngImagePlugin.PngInfo()
    if parameters is not None:
        info.add_text("parameters", parameters)
    Image.new("RGB", size, colour).save(path, pnginfo=info)
    return path


@pytest.fixture()
def photos(tmp_path) -> Path:
    """Six usable images (PNG, JPEG, WebP, one in a subfolder), captions three ways, and five things to skip."""
    folder = tmp_path / "photos"
    _png(folder / "a-red.png", (220, 30, 30))
    (folder / "a-red.txt").write_text("  a red\nsquare  ")                       # caption beside the image
    _png(folder / "b-blue.png", (30, 30, 220), parameters="a blue square\nNegative prompt: red\n"
                                                          "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    _png(folder / "c-plain.png", (30, 220, 30))                                 # no caption
    Image.new("RGB", (32, 32), (200, 200, 0)).save(folder / "d-yellow.jpg")
    Image.new("RGB", (32, 32), (0, 200, 200)).save(folder / "e-cyan.webp")
    _png(folder / "sub" / "f-grey.png", (128, 128, 128))
    _png(folder / "huge.png", (10, 10, 10), size=(300, 300))                    # over the test's pixel limit
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really" * 20)
    truncated = (folder / "b-blue.png").read_bytes()
    (folder / "truncated.png").write_bytes(truncated[: len(truncated) // 2])
    (folder / "notes.md").write_text("not an image")
    (folder / "orphan.txt").write_text("a caption of no image")
    (folder / ".hidden").write_text("left out")
    return folder


@pytest.fixture()
def config(tmp_path) -> ExplorerConfig:
    return ExplorerConfig(model="tiny-random", cache_dir=tmp_path / "cache", max_image_pixels=200 * 200)


def test_captions_skips_and_exact_search(tiny_model, photos, config):
    archive, vision = open_archive(tiny_model, photos, config, any_folder=True)
    assert archive.ids == ["a-red.png", "b-blue.png", "c-plain.png", "d-yellow.jpg", "e-cyan.webp", "sub/f-grey.png"]
    assert archive.captions[:3] == ["a red square", "a blue square", None]       # .txt, PNG parameters, none
    assert dict(archive.skipped) == {"non_image": 2, "unreadable": 2, "too_large": 1}
    assert "2 non-image files" in archive.note and "2 unreadable images" in archive.note
    assert "1 image over the pixel limit" in archive.note
    np.testing.assert_allclose(np.linalg.norm(archive.embeddings, axis=1), 1, atol=1e-5)
    # an image of the archive is its own nearest (cosine 1), and its novelty distance is 0
    result = nearest_images(archive, vision, Image.open(photos / "d-yellow.jpg"), k=3, config=config)
    assert result.hits[0].id == "d-yellow.jpg" and result.hits[0].similarity == pytest.approx(1, abs=1e-5)
    assert result.novelty.distance == pytest.approx(0, abs=1e-5) and "not provenance" in result.novelty.sentence
    assert result.hits[0].path == photos / "d-yellow.jpg"
    # retrieval ranks by image-text cosine: the same order as a brute-force score of every image
    found = retrieve(archive, vision, "a red square", k=6, config=config)
    scores = archive.embeddings @ vision.text_embeds(["a red square"])[0]
    assert [h.row for h in found.hits] == np.argsort(-scores, kind="stable").tolist()
    assert found.hits[0].to_dict(paths=False).keys() == {"rank", "id", "caption", "similarity"}


def test_bad_requests_name_the_archive_or_k(tiny_model, photos, config, tmp_path):
    archive, vision = open_archive(tiny_model, photos, config, any_folder=True)
    with pytest.raises(InputError, match=r"k: expected an integer in \[1, 6\] \(the archive holds 6 images\)"):
        retrieve(archive, vision, "x", k=7, config=config)
    with pytest.raises(InputError, match="prompt: expected a non-empty"):
        retrieve(archive, vision, " ", k=1, config=config)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images here")
    with pytest.raises(InputError, match="archive: expected a folder with at least one PNG, JPEG or WebP image.*"
                                         "skipped 1 non-image file"):
        open_archive(tiny_model, empty, config, any_folder=True)
    unusable = tmp_path / "unusable"
    unusable.mkdir()
    (unusable / "x.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match="archive: expected a folder with at least one readable image"):
        open_archive(tiny_model, unusable, config, any_folder=True)
    with pytest.raises(InputError, match="archive: expected an existing folder"):
        open_archive(tiny_model, tmp_path / "missing", config, any_folder=True)
    with pytest.raises(InputError, match="archive: expected a folder of images"):      # tiny-random has no own
        open_archive(tiny_model, "", config)
    with pytest.raises(InputError, match=r"archive: expected a folder of at most 3 images.*more than 3"):
        folder_source(photos, max_images=3)
    assert len(folder_source(photos, max_images=3, limit=2)) == 2                      # the first two, asked for


def test_only_folders_inside_the_roots_are_served(tiny_model, photos, tmp_path, config):
    outside = tmp_path / "private"
    _png(outside / "secret.png", (1, 2, 3))
    (photos / "link-out.png").symlink_to(outside / "secret.png")
    (photos.parent / "escape").symlink_to(outside, target_is_directory=True)
    config.archive_roots = (photos,)
    folder, root = allowed_folder("sub", config.archive_roots)                # a name under a root
    assert folder == (photos / "sub").resolve() and root == photos.resolve()
    for refused in (str(outside), "../private", str(photos.parent / "escape"), str(photos / ".." / "private"),
                    "nul\0byte"):
        with pytest.raises(InputError) as error:
            open_archive(tiny_model, refused, config)
        assert error.value.field == "archive" and str(photos.resolve()) in str(error.value)
    with pytest.raises(InputError, match="the operator shares no folders"):
        allowed_folder(str(photos), ())
    archive, _ = open_archive(tiny_model, str(photos), config)                # inside: the link out is skipped
    assert "link-out.png" not in archive.ids and archive.skipped["outside"] == 1
    assert "1 link leading outside the folder" in archive.note
    cli, _ = open_archive(tiny_model, str(photos), config, any_folder=True)   # the CLI's user owns the machine
    assert "link-out.png" in cli.ids


def test_disk_cache_is_keyed_by_content_and_a_corrupt_file_is_rebuilt(tiny_model, photos, config):
    calls = []
    first, vision = open_archive(tiny_model, photos, config, progress=lambda done, total: calls.append((done, total)),
                                 any_folder=True)
    assert calls[-1] == (9, 9) and "Indexed 6 images" in first.note and first.path.is_file()
    source = folder_source(photos, config.max_archive_images, config.max_image_pixels)
    again = load_archive(source, vision, config, memory=False)                # from disk, same numbers
    assert "from the disk cache" in again.note and again.ids == first.ids
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    assert dict(again.skipped) == dict(first.skipped)
    first.path.write_bytes(b"PK\x03\x04 not a zip at all")                  # a corrupt cache file
    rebuilt = load_archive(source, vision, config, memory=False)
    assert "was unreadable" in rebuilt.note and "rebuilt it" in rebuilt.note and rebuilt.ids == first.ids
    assert "from the disk cache" in load_archive(source, vision, config, memory=False).note   # rewritten
    # a changed file changes the key: a new index, not a stale one
    _png(photos / "c-plain.png", (0, 0, 0))
    os.utime(photos / "c-plain.png", ns=(1, 1))
    changed = folder_source(photos, config.max_archive_images, config.max_image_pixels)
    assert changed.content_key != source.content_key
    assert "Indexed 6 images" in load_archive(changed, vision, config).note


def test_an_unwritable_cache_still_answers(tiny_model, photos, tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    config = ExplorerConfig(cache_dir=blocked, max_image_pixels=200 * 200)
    monkeypatch.setattr(load_vision(tiny_model), "archives", LRUCache(1))     # none held in memory: built again
    archive, _ = open_archive(tiny_model, photos, config, any_folder=True)
    assert len(archive) == 6 and "not writable" in archive.note


def test_a_request_sees_a_shared_folder_by_its_name_not_the_server_path(tmp_path):
    """Within a shared root (a UI or API request), refusals name the folder as the request named it: they said
    "more than N images in /srv/.../photos" before."""
    root = tmp_path / "server" / "roots"
    (root / "class" / "empty").mkdir(parents=True)
    (root / "class" / "empty" / "notes.md").write_text("no images")
    (root / "class" / "many").mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8)).save(root / "class" / "many" / f"{i}.png")
    for name, max_images in (("empty", 10), ("many", 2)):
        with pytest.raises(InputError) as caught:
            folder_source(root / "class" / name, max_images, within=root)
        assert f"class/{name}" in str(caught.value) and str(tmp_path) not in str(caught.value), str(caught.value)
