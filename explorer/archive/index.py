"""The archive index: each image of a source as a unit CLIP image embedding, cached on disk, searched exactly.

Built once per (CLIP vision model, source content) with progress(done, total), kept in memory and in
cache_dir/archives/<vision model>/<content>.npz (written atomically; a file that cannot be read is
rebuilt). Search is exact: one matrix-vector product and a partial sort (up to max_archive_images).

    index = load_archive(training_source(model.folder), load_vision(model))
    rows, scores = index.top_k(vision.text_embeds(["a red circle"])[0], k=8)
"""
from __future__ import annotations

import io
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from explorer.archive.novelty import nearest_other_distances, sample_rows
from explorer.archive.sources import FolderSource, TrainingSetSource, skipped_note
from explorer.cache import weights_fingerprint, write_atomic
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.messages import is_keyed, joined, say

log = logging.getLogger(__name__)

EMBED_CHUNK = 256                  # images decoded and embedded between two progress reports
CACHE_FORMAT = 1                   # bump when the .npz layout or the image preprocessing changes
WAIT_REPORT_S = 0.5                # how often a request waiting for another's build reports that build's progress

Progress = Callable[[int, int], None]          # progress(done, total)
Source = FolderSource | TrainingSetSource


@dataclass
class ArchiveIndex:
    """Unit CLIP image embeddings (N, d) of an archive's usable images, with their ids and captions."""

    source: Source                             # where the images are (to show one)
    ids: list[str]                             # N ids: relative paths or "train/00042"
    captions: list[str | None]                 # N captions (None: the image has none)
    embeddings: np.ndarray                     # (N, d) float32, every row of norm 1
    spacing: np.ndarray                        # (s,) nearest-other-image distances of a fixed sample (novelty)
    vision_key: str                            # the CLIP vision model's cache folder name
    skipped: Counter = field(default_factory=Counter)   # files left out, by reason (sources.SKIP_REASONS)
    path: Path | None = None                   # the cache file
    note: str = ""                             # how it was built or loaded, what was skipped

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def name(self) -> str:
        return self.source.name

    def top_k(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k rows by cosine to a unit query (d,): (rows best first, their scores); ties by row."""
        scores = self.embeddings @ np.asarray(query, np.float32)                # (N,)
        top = np.arange(len(scores)) if k >= len(scores) else np.argpartition(-scores, k - 1)[:k]
        order = np.lexsort((top, -scores[top]))
        return top[order], scores[top[order]]

    def image(self, row: int) -> Image.Image:
        """The archive image of a row, RGB (read from its file, or drawn again)."""
        return self.source.open(self.ids[row])

    def file(self, row: int) -> Path | None:
        """The file of a row (None for drawn images such as miniworld's training set)."""
        return self.source.path(self.ids[row])


def load_archive(source: Source, vision, config: ExplorerConfig | None = None, progress: Progress | None = None,
                 memory: bool = True) -> ArchiveIndex:
    """The index of a source for a CLIP vision model: from memory, else the disk cache, else built and cached.

    The vision model keeps the indexes in memory (VisionModel.archives) and builds one at a time (a request waits
    for a warm-up's build, reporting its progress, then reuses it).
    """
    config = config or ExplorerConfig()
    # 1. keys: which vision model, which images
    vision_key = vision_cache_key(vision)
    path = cache_path(config, vision_key, source)
    key = (vision_key, source.content_key, str(path))
    held, building = vision.archives, vision.archive_building
    if memory and key in held:                          # without waiting for another archive's build
        return held.peek(key)
    while not vision.archive_lock.acquire(timeout=WAIT_REPORT_S):   # another build runs: wait, saying how far it is
        if progress is not None and key in building:
            progress(*building[key])
    try:
        if memory and key in held:                      # built while this request waited
            return held.peek(key)
        # 2. the disk cache
        index, problem = read_cache(path, source, vision_key)
        if index is None:
            # 3. embed every image, 4. the novelty scale, 5. write the cache
            started = time.perf_counter()

            def report(done: int, total: int) -> None:
                building[key] = (done, total)
                if progress is not None:
                    progress(done, total)

            ids, captions, embeddings, skipped = embed_source(source, vision, report)
            spacing = nearest_other_distances(embeddings, sample_rows(len(ids)))
            index = ArchiveIndex(source, ids, captions, embeddings, spacing, vision_key, skipped, path)
            saved = write_cache(path, index)
            built = say("archive.index.indexed", n=len(ids), archive=source.name,
                        seconds=time.perf_counter() - started)
            cached = say("concepts.cache.saved") if saved else say("concepts.cache.not_writable")
            index.note = joined("", [problem + " " if problem else "", built, cached])
        index.skipped = source.skipped + index.skipped                      # scan-time + read-time counts
        if skipped_note(index.skipped):
            index.note += " " + skipped_note(index.skipped, sentence=True)
        held.put(key, index)
        return index
    finally:
        building.pop(key, None)
        vision.archive_lock.release()


def embed_source(source: Source, vision, progress: Progress | None = None, chunk: int = EMBED_CHUNK
                 ) -> tuple[list[str], list[str | None], np.ndarray, Counter]:
    """Read and embed every image of a source in chunks: (ids, captions, embeddings (N, d), read-time skips)."""
    skipped = Counter()
    ids, captions, embeddings = embed_range(source, vision, 0, len(source), skipped, progress, chunk)
    if not ids:
        raise InputError("archive", say("archive.allowed.readable_image"), str(source.name),
                         hint=skipped_note(source.skipped + skipped))
    return ids, captions, embeddings, skipped


def embed_range(source: Source, vision, start: int, stop: int, skipped: Counter, progress: Progress | None = None,
                chunk: int = EMBED_CHUNK) -> tuple[list[str], list[str | None], np.ndarray]:
    """Embed candidates start..stop in chunks of `chunk` (ids, captions, (n, d) float32; n may be 0); read-time
    skips are counted in `skipped`. The index job embeds shards with it: a shard that starts at a multiple of
    `chunk` embeds the very batches embed_source does, so its rows are the same floats."""
    ids, captions, parts = [], [], []
    for first in range(start, stop, chunk):
        entries = source.read(first, min(first + chunk, stop), skipped)
        if entries:
            ids += [e.id for e in entries]
            captions += [e.caption for e in entries]
            parts.append(vision.image_embeds([e.image for e in entries]))        # (c, d) unit rows
        if progress is not None:
            progress(min(first + chunk, stop) - start, stop - start)
    embeddings = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)
    return ids, captions, embeddings


def cache_path(config: ExplorerConfig, vision_key: str, source: Source) -> Path:
    """Where the index of a source for a vision model is cached (load_archive reads it, the index job writes it)."""
    return Path(config.cache_dir) / "archives" / vision_key / f"{source.content_key[:32]}.npz"


def vision_cache_key(vision) -> str:
    """Folder name of a vision model's archives: its name plus a fingerprint of the image tower's weights (and
    its input size)."""
    params = list(vision.clip.vision_model.state_dict().items()) + \
        list(vision.clip.visual_projection.state_dict().items())
    return weights_fingerprint(vision.name, params, extra=f"{vision.image_size}")


def read_cache(path: Path, source: Source, vision_key: str) -> tuple[ArchiveIndex | None, str]:
    """The cached index, or (None, why it could not be used: '' when there is none)."""
    if not path.is_file():
        return None, ""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            embeddings = np.ascontiguousarray(data["embeddings"], dtype=np.float32)
            spacing = np.asarray(data["spacing"], dtype=np.float32)
        if meta.get("format") != CACHE_FORMAT or meta.get("content") != source.content_key or \
                meta.get("vision") != vision_key:
            raise ValueError(say("archive.index.other_archive"))
        ids, captions = list(meta["ids"]), list(meta["captions"])
        if embeddings.ndim != 2 or not len(ids) == len(captions) == embeddings.shape[0] or \
                not np.all(np.isfinite(embeddings)):
            raise ValueError(say("archive.index.bad_embeddings", shape=embeddings.shape, n=len(ids)))
        skipped = Counter({str(k): int(v) for k, v in meta["skipped"].items()})
    except Exception as error:  # noqa: BLE001 - any unreadable file (zip, json, shape) is rebuilt
        return None, say("archive.index.unreadable", file=path.name, error=why(error))
    index = ArchiveIndex(source, ids, captions, embeddings, spacing, vision_key, skipped, path,
                         note=say("archive.index.loaded", n=len(ids), archive=source.name))
    return index, ""


def why(error: Exception) -> str:
    """'ValueError: what was wrong' for a note, the message kept keyed where it is one."""
    said = error.args[0] if len(error.args) == 1 and is_keyed(error.args[0]) else str(error)
    return type(error).__name__ + ": " + said


def write_cache(path: Path, index: ArchiveIndex) -> bool:
    """Write atomically (temp file, then rename) so a crash never leaves a half-written cache."""
    meta = json.dumps({"format": CACHE_FORMAT, "content": index.source.content_key, "vision": index.vision_key,
                       "name": index.name, "ids": index.ids, "captions": index.captions,
                       "skipped": dict(index.skipped), "dim": index.dim}, ensure_ascii=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, embeddings=index.embeddings, spacing=index.spacing, meta=np.array(meta))
        write_atomic(path, buffer.getvalue())
        return True
    except OSError as error:
        log.warning("could not write the archive index cache %s: %s", path, error)
        return False
