"""The archive over HTTP and for the Search tab: existing images for a prompt, the archive images nearest to
a picture with its novelty. The library does the work (explorer.archive); this module only translates.

    archive_api.register(ctx)     # app.py build_demo, after the tabs, before ctx.apis becomes gr.api endpoints

Endpoints: /archive_retrieve (prompt, k, archive) and /archive_nearest (image, k, archive); archive "" is the
model's own archive (miniworld: its training set), otherwise a folder inside config.archive_roots.
"""
from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Callable

from explorer.archive.index import ArchiveIndex
from explorer.archive.retrieval import ArchiveHit, index_in_background, nearest_images, open_archive, retrieve
from explorer.errors import InputError
from explorer.messages import say
from explorer.outputs.png import open_image
from explorer.ui import gradio_compat
from explorer.ui.components import as_int
from explorer.ui.context import AppContext
from explorer.ui.events import guard
from explorer.ui.files import check_upload, served

Progress = Callable[[int, int], None]               # progress(done, total) while an archive is indexed
GalleryItem = tuple[str, str]                      # (image file, caption) as gr.Gallery takes it


def register(ctx: AppContext) -> None:
    """Append the two archive endpoints to ctx.apis (app.py turns them into gr.api endpoints), and start indexing
    the model's own archive in the background (config.index_archive_at_start): no class waits for it."""
    cfg = ctx.config
    if cfg.index_archive_at_start:
        index_in_background(ctx.model, cfg)

    @guard
    def archive_retrieve(prompt: str, k: int = 8, archive: str = "") -> dict:
        """Existing images for a prompt: the k archive images whose CLIP image embedding is most cosine-similar
        to the prompt's CLIP text embedding, with their ids, captions and similarities."""
        index, vision = _open(ctx, archive)
        result = retrieve(index, vision, prompt, as_int(k), cfg)
        return {"archive": result.archive, "prompt": result.query, "note": result.note, "index": index.note,
                "coverage": result.coverage.to_dict() if result.coverage else None,
                "results": [hit.to_dict(paths=False) for hit in result.hits]}

    @guard
    def archive_nearest(image: dict | str, k: int = 8, archive: str = "") -> dict:
        """The k archive images nearest to an uploaded picture (cosine of CLIP image embeddings), and its novelty:
        its distance to the nearest one against the archive's own nearest-neighbour distances."""
        picture = open_image(_uploaded(image, cfg), "image", cfg.max_image_pixels).convert("RGB")
        index, vision = _open(ctx, archive)
        result = nearest_images(index, vision, picture, as_int(k), cfg)
        return {"archive": result.archive, "note": result.note, "index": index.note,
                "novelty": result.novelty.to_dict(), "coverage": result.coverage.to_dict() if result.coverage else None,
                "results": [hit.to_dict(paths=False) for hit in result.hits]}

    ctx.apis.append((archive_retrieve, "archive_retrieve"))
    ctx.apis.append((archive_nearest, "archive_nearest"))


def archive_gallery(ctx: AppContext, prompt: str, k: int, archive: str = "", progress: Progress | None = None
                    ) -> tuple[list[GalleryItem], str]:
    """For the Search tab: existing images for a prompt as gallery items, and a one-line note."""
    index, vision = _open(ctx, archive, progress)
    result = retrieve(index, vision, prompt, as_int(k), ctx.config)
    gap = " **" + result.coverage.sentence + "**" if result.coverage else ""       # + keeps keyed notes keyed
    return gallery_items(index, result.hits), result.note + " " + index.note + gap


def nearest_gallery(ctx: AppContext, image_path: str | Path, k: int, archive: str = "",
                    progress: Progress | None = None) -> tuple[list[GalleryItem], str]:
    """For the Search tab: the archive images nearest to a generated picture, and the novelty sentence."""
    picture = open_image(image_path, "image", ctx.config.max_image_pixels).convert("RGB")
    index, vision = _open(ctx, archive, progress)
    result = nearest_images(index, vision, picture, as_int(k), ctx.config)
    gap = " **" + result.coverage.sentence + "**" if result.coverage else ""
    return gallery_items(index, result.hits), result.novelty.sentence + gap


def gallery_items(index: ArchiveIndex, hits: list[ArchiveHit]) -> list[GalleryItem]:
    """(file, caption) per hit: a folder's file as served to this user, a drawn image (miniworld) as a temp PNG."""
    folder = None
    items = []
    for hit in hits:
        if hit.path is not None:
            file = served(hit.path)
        else:
            folder = folder or Path(tempfile.mkdtemp(prefix="latent-explorer-archive-"))
            file = folder / (re.sub(r"[^A-Za-z0-9._-]+", "-", hit.id) + ".png")
            index.image(hit.row).save(file, format="PNG")
            file = str(file)
        items.append((file, say("ui_search.archive.caption", similarity=hit.similarity, caption=hit.caption or hit.id)))
    return items


def _open(ctx: AppContext, archive, progress: Progress | None = None):
    """The archive a request names: '' the model's own, otherwise a folder inside config.archive_roots."""
    if archive is None:
        archive = ""
    if not isinstance(archive, str):
        raise InputError("archive", say("server.archive.folder"), archive)
    return open_archive(ctx.model, archive, ctx.config, progress=progress)


def _uploaded(image, cfg) -> Path:
    """An uploaded file's path (a gradio FileData dict or its path); only gradio's upload folder is read."""
    path = image.get("path") if isinstance(image, dict) else image
    if not isinstance(path, str) or not path or not gradio_compat.in_upload_folder(path):
        raise InputError("image", say("server.archive.image"),
                         Path(path).name if isinstance(path, str) else type(path).__name__)
    return check_upload("image", path, cfg)
