"""The model's own archive indexed in the background at start (issue 26): a request that comes during the build
waits for it, hears how far it is, and does not start a second one."""
from __future__ import annotations

import logging
import time

from explorer.archive import retrieval
from explorer.archive.retrieval import index_in_background, open_archive
from explorer.config import ExplorerConfig
from explorer.models.vision import load_vision
from tests.archive.conftest import needs_miniworld

IMAGES = 600                 # three chunks of 256 (EMBED_CHUNK): progress reported between them
CHUNK_S = 1.0                # each chunk slowed down, so the request surely arrives mid-build


class SlowVision:
    """The real CLIP vision model, counting and slowing its image batches."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def image_embeds(self, images):
        self.batches.append(len(images))
        time.sleep(CHUNK_S)
        return self.inner.image_embeds(images)


@needs_miniworld
def test_a_request_during_the_background_build_waits_for_it_and_hears_its_progress(miniworld, tmp_path, monkeypatch,
                                                                                 caplog):
    caplog.set_level(logging.INFO, logger="explorer.archive.retrieval")
    vision = SlowVision(load_vision(miniworld))
    monkeypatch.setattr(retrieval, "load_vision", lambda model, *args, **kwargs: vision)
    config = ExplorerConfig(model="miniworld", cache_dir=tmp_path, max_archive_images=IMAGES)
    thread = index_in_background(miniworld, config)
    while not vision.batches:                          # the build is under way
        time.sleep(0.05)
    heard = []
    index, _ = open_archive(miniworld, None, config, progress=lambda done, total: heard.append((done, total)))
    thread.join(timeout=120)
    assert len(index) == IMAGES and sum(vision.batches) == IMAGES          # one build, not two
    assert heard and {total for _, total in heard} == {IMAGES}             # the waiting request heard how far
    assert any("in the background: 256 of 600 images" in r.message for r in caplog.records)
    assert any(r.message.startswith("archive of miniworld ready") for r in caplog.records)


def test_no_background_build_without_an_archive_of_its_own(tiny_model, tmp_path):
    assert index_in_background(tiny_model, ExplorerConfig(cache_dir=tmp_path)) is None
