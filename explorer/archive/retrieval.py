"""What the archive answers: existing images for a text, and the archive images nearest to a picture.

    archive, vision = open_archive(model)                            # miniworld: its training set
    retrieve(archive, vision, "a red circle", k=8).hits              # ranked by image-text cosine
    nearest_images(archive, vision, picture, k=8).novelty.sentence   # nearest images, and how near
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from explorer import workers
from explorer.archive.gaps import Coverage, coverage, picture_coverage
from explorer.archive.index import ArchiveIndex, Progress, load_archive
from explorer.archive.novelty import Novelty, novelty
from explorer.archive.sources import allowed_folder, default_source, folder_source
from explorer.checks import check_int, check_text
from explorer.config import ExplorerConfig
from explorer.errors import InputError, ModelLoadError
from explorer.messages import say
from explorer.models.vision import VisionModel, load_vision, vision_on_disk, vision_status

MAX_QUERY_CHARS = 2000             # longest retrieval text (CLIP reads the first 77 tokens)
LOG_EVERY = 0.1                    # the background index logs its progress at every tenth of the images

log = logging.getLogger(__name__)


@dataclass
class ArchiveHit:
    """One archive image: where it is, its caption, and its cosine similarity to the query."""

    rank: int                      # 1 = most similar
    row: int                       # row in the archive index
    id: str                        # relative path in the folder, or "train/00042"
    caption: str | None
    similarity: float              # cosine of the CLIP embeddings (image-text or image-image)
    path: Path | None = None       # the file (None for drawn images: miniworld's training set)

    def to_dict(self, paths: bool = True) -> dict:
        """JSON-able; `paths=False` leaves the server's file path out (the HTTP API)."""
        data = {"rank": self.rank, "id": self.id, "caption": self.caption, "similarity": round(self.similarity, 4)}
        return {**data, "path": None if self.path is None else str(self.path)} if paths else data


@dataclass
class Retrieval:
    """Existing images for a text, best first."""

    query: str
    archive: str                   # the archive's name
    hits: list[ArchiveHit]
    note: str
    coverage: Coverage | None = None   # a training-set archive: what it holds of the prompt's colour and shape


@dataclass
class NearestImages:
    """The archive images nearest to a picture, and how near the nearest is on the archive's own scale."""

    archive: str
    hits: list[ArchiveHit]
    novelty: Novelty
    note: str
    coverage: Coverage | None = None   # a training-set archive: what it holds of what the picture shows


def open_archive(model, archive: str | Path | None = None, config: ExplorerConfig | None = None,
                 progress: Progress | None = None, limit: int | None = None, any_folder: bool = False
                 ) -> tuple[ArchiveIndex, VisionModel]:
    """The archive a request names ('' or None: the model's own) with the CLIP vision model that indexes it.

    `any_folder` (the CLI, whose user owns the machine): any folder; otherwise only folders inside
    config.archive_roots. `limit`: only the first images (a quick look; tests).
    """
    config = config or ExplorerConfig()
    if limit is not None:
        check_int("limit", limit, 1, config.max_archive_images)
    # 1. the CLIP vision model of the model's family
    vision = load_vision(model)
    if vision is None:
        raise ModelLoadError(say("archive.no_vision", status=vision_status(model)))
    # 2. the source: the model's own archive, or a folder
    if archive is None or str(archive).strip() == "":
        source = default_source(model, config.max_archive_images if limit is None else limit)   # all, up to the max
        if source is None:
            raise InputError("archive", say("archive.allowed.folder_of_images"), archive or "",
                             hint=say("archive.hint.no_own_archive", name=model.name))
    elif any_folder:
        source = folder_source(archive, config.max_archive_images, config.max_image_pixels, limit=limit)
    else:
        folder, root = allowed_folder(str(archive), config.archive_roots)
        source = folder_source(folder, config.max_archive_images, config.max_image_pixels, within=root, limit=limit)
    # 3. the index: memory, disk cache, or built
    return load_archive(source, vision, config, progress), vision


def index_in_background(model, config: ExplorerConfig | None = None) -> threading.Thread | None:
    """Index the model's own archive (miniworld: its training set) in a daemon thread, progress in the log, so the
    first search of a class finds it ready; a request that comes earlier waits for this build and reports its
    progress (load_archive), never starts a second one. None where the model has no archive of its own or its
    CLIP vision model is not on disk (nothing is downloaded at start)."""
    if default_source(model) is None or not vision_on_disk(model):
        return None
    config = config or ExplorerConfig()
    logged = [-1]

    def report(done: int, total: int) -> None:
        tenth = int(done / max(total, 1) / LOG_EVERY)
        if tenth > logged[0]:
            logged[0] = tenth
            log.info("indexing the archive of %s in the background: %d of %d images", model.name, done, total)

    def build() -> None:
        started = time.perf_counter()
        try:
            index, _ = open_archive(model, None, config, progress=report)
            log.info("archive of %s ready (%.1f s): %s", model.name, time.perf_counter() - started, index.note)
        except Exception as error:  # noqa: BLE001 - a request will build it again and show the error itself
            log.warning("indexing the archive of %s in the background failed: %s", model.name, error)

    return workers.start(build, "archive-index")      # at exit: waited for a while (explorer.workers)


def retrieve(archive: ArchiveIndex, vision: VisionModel, text: str, k: int = 8,
             config: ExplorerConfig | None = None) -> Retrieval:
    """The k archive images whose CLIP image embedding is most cosine-similar to the text's."""
    # 1. validate
    if isinstance(text, str) and not text.strip():                   # check_text's refusal, in the archive's words
        raise InputError("prompt", say("archive.allowed.search_text"), text)
    text = check_text("prompt", text, max_chars=MAX_QUERY_CHARS)
    k = _check_k(k, archive, config)
    # 2. embed the text, 3. rank every image
    rows, scores = archive.top_k(vision.text_embeds([text])[0], k)
    note = say("archive.note.retrieved", k=k, n=len(archive), archive=archive.name)
    # 4. a training set with known scenes: what it holds of the colour and shape the prompt names
    return Retrieval(text, archive.name, _hits(archive, rows, scores), note, coverage(archive.source, text))


def nearest_images(archive: ArchiveIndex, vision: VisionModel, image: Image.Image, k: int = 8,
                   config: ExplorerConfig | None = None) -> NearestImages:
    """The k archive images nearest to a picture (CLIP image cosine) and its novelty against the archive."""
    # 1. validate
    if not isinstance(image, Image.Image):
        raise InputError("image", say("archive.allowed.picture"), type(image).__name__)
    k = _check_k(k, archive, config)
    # 2. embed the picture, 3. rank, 4. compare with the archive's own spacing
    rows, scores = archive.top_k(vision.image_embeds([image])[0], k)
    figure = novelty(1.0 - float(scores[0]), archive.spacing)
    note = say("archive.note.nearest", k=k, n=len(archive), archive=archive.name)
    # 5. a training set with known scenes: what it holds of what the pixel oracle reads in the picture
    held = picture_coverage(archive.source, image)
    return NearestImages(archive.name, _hits(archive, rows, scores), figure, note, held)


def _check_k(k, archive: ArchiveIndex, config: ExplorerConfig | None) -> int:
    most = min(len(archive), (config or ExplorerConfig()).max_archive_results)
    return check_int("k", k, 1, most, say("archive.note.k_holds", n=len(archive)))


def _hits(archive: ArchiveIndex, rows, scores) -> list[ArchiveHit]:
    return [ArchiveHit(rank, int(row), archive.ids[row], archive.captions[row], float(score), archive.file(row))
            for rank, (row, score) in enumerate(zip(rows, scores), 1)]
