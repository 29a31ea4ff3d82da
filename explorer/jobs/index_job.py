"""An archive index of 10^6 images on Ray: shards of images as tasks, resumable, merged into the very cache file
the single-machine index (explorer.archive.index.load_archive) writes and reads.

Shard i embeds the archive's candidates i * shard ... (i + 1) * shard - 1 with the model family's CLIP vision model,
in the same batches of EMBED_CHUNK images as the single-machine build (the shard size is a multiple of it), so its
rows are the same floats at the same thread count. The merge concatenates the shards in order, measures the
archive's spacing (novelty scale) and writes cache_dir/archives/<vision model>/<content>.npz: afterwards the app,
the CLI `archive` verb and the API load the index from disk instead of building it.

    job = IndexJob("sd15", archive="/data/photos", max_images=1_000_000)
    summary = run_index_job(job, Path("photos-index"))                  # local Ray: every CPU of this machine
    summary = run_index_job(job, Path("photos-index"), address="auto", gpus_per_task=1)   # a cluster's GPUs

Resumable as the probe job is: each worker writes its shard to <folder>/shards/<index>.npz (atomically) before it
returns; a second run on the same folder embeds only the missing shards. The folder's job.json also records the
archive's content key: if the images changed in between, the job is refused rather than merged from two states.
On a cluster the job folder and the archive must be on a file system every machine sees.
"""
from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from explorer.archive.index import EMBED_CHUNK, ArchiveIndex, cache_path, embed_range, vision_cache_key, write_cache
from explorer.archive.novelty import nearest_other_distances, sample_rows
from explorer.archive.sources import default_source, folder_source, skipped_note
from explorer.cache import write_atomic
from explorer.checks import check_int
from explorer.config import MAX_INDEX_IMAGES, ExplorerConfig
from explorer.errors import InputError, ModelLoadError
from explorer.messages import say
from explorer.jobs.shards import (Progress, job_folder, missing_shards, put, run_tasks, shard_path, worker_model,
                                  write_json)
from explorer.models.vision import load_vision, vision_status

SUFFIX = ".npz"                                 # a shard's file: its embeddings, ids, captions and skips
SUMMARY = "index.json"


@dataclass(frozen=True)
class IndexJob:
    """What an index job computes (job.json): which model's CLIP indexes which archive, in shards of how many."""

    model: str
    archive: str = ""                            # a folder of images; '' for the model's own (miniworld: its training set)
    shard: int = 4 * EMBED_CHUNK                 # images per task, a multiple of EMBED_CHUNK
    limit: int | None = None                     # only the first images (a quick look; tests)
    max_images: int = 1_000_000                  # a larger folder is refused (as max_archive_images in the app)

    def check(self) -> "IndexJob":
        check_int("max_images", self.max_images, 1, MAX_INDEX_IMAGES)
        check_int("shard", self.shard, EMBED_CHUNK, MAX_INDEX_IMAGES)
        if self.shard % EMBED_CHUNK:
            raise InputError("shard", say("jobs.allowed.shard_multiple", n=EMBED_CHUNK), self.shard)
        if self.limit is not None:
            check_int("limit", self.limit, 1, self.max_images)
        return self

    def shard_count(self, images: int) -> int:
        return -(-images // self.shard)

    def shard_range(self, index: int, images: int) -> tuple[int, int]:
        """(first, stop) candidate rows of shard `index`."""
        return index * self.shard, min((index + 1) * self.shard, images)


def open_source(job: IndexJob):
    """The archive's source as the single-machine path lists it (a folder, or the model's own archive)."""
    if job.archive.strip():
        return folder_source(job.archive, job.max_images, ExplorerConfig().max_image_pixels, limit=job.limit)
    source = default_source(worker_model(job.model), job.limit)
    if source is None:
        raise InputError("archive", say("archive.allowed.folder_of_images"), job.archive,
                         hint=say("archive.hint.no_own_archive", name=job.model))
    return source


def run_shard(job: IndexJob, source, index: int, folder: Path) -> dict:
    """One shard: embed its images, write <folder>/shards/<index>.npz, return what the merge needs to know."""
    model = worker_model(job.model)
    vision = load_vision(model)
    if vision is None:
        raise ModelLoadError(say("jobs.no_vision", status=vision_status(model)))
    first, stop = job.shard_range(index, len(source))
    skipped = Counter()
    ids, captions, embeddings = embed_range(source, vision, first, stop, skipped)
    meta = {"index": index, "ids": ids, "captions": captions, "skipped": dict(skipped),
            "vision": vision_cache_key(vision)}
    buffer = io.BytesIO()
    np.savez(buffer, embeddings=embeddings, meta=np.array(json.dumps(meta, ensure_ascii=False)))
    write_atomic(shard_path(folder, index, SUFFIX), buffer.getvalue())
    return {"index": index, "images": len(ids), "vision": meta["vision"]}


def run_index_job(job: IndexJob, folder: Path, *, config: ExplorerConfig | None = None, address: str | None = None,
                  cpus: int | None = None, gpus_per_task: float = 0.0, stop_after: int | None = None,
                  progress: Progress | None = None) -> dict | None:
    """Embed the shards not yet in `folder` on Ray, then merge them into the archive's index cache (in
    config.cache_dir) and <folder>/index.json (returned). `stop_after`: return after that many new shards (the
    job resumes where it stopped); returns None until every shard is done."""
    config = config or ExplorerConfig()
    # 1. the archive as listed now; the folder holds this job (new) or the same job over the same images (resume)
    job.check()
    source = open_source(job)
    record = {**asdict(job), "content": source.content_key, "candidates": len(source)}

    def same_images(saved: dict) -> None:
        if {k: v for k, v in saved.items() if k not in ("content", "candidates")} == \
                {k: v for k, v in record.items() if k not in ("content", "candidates")} and \
                saved.get("content") != record["content"]:
            raise InputError("archive", say("jobs.allowed.same_images"), job.archive or job.model,
                             hint=say("jobs.hint.archive_changed"))

    folder = job_folder(Path(folder), record, same_images)
    total = job.shard_count(len(source))
    todo = missing_shards(folder, total, SUFFIX, stop_after)
    # 2. one Ray task per shard (the archive's listing goes to the object store once); workers write the shards
    listing = put(source) if todo else None
    run_tasks(run_shard, [(job, listing, i, folder) for i in todo], address=address, cpus=cpus,
              gpus_per_task=gpus_per_task, on_result=lambda result: None, progress=progress,
              done=total - len(todo), total=total)
    # 3. merged once every shard is there: the index cache, then the job's summary
    paths = [shard_path(folder, i, SUFFIX) for i in range(total)]
    if not all(path.is_file() for path in paths):
        return None
    index = merge_shards(source, paths, config)
    cached = write_cache(index.path, index)
    skipped = source.skipped + index.skipped
    summary = {"archive": index.name, "images": len(index), "dim": index.dim, "shards": total,
               "skipped": dict(skipped), "note": skipped_note(skipped), "vision": index.vision_key,
               "cache": str(index.path) if cached else None}
    write_json(folder / SUMMARY, summary)
    return summary


def merge_shards(source, paths: list[Path], config: ExplorerConfig) -> ArchiveIndex:
    """The archive index from its shards in order, with the cache path load_archive looks for it at."""
    ids, captions, parts, skipped, keys = [], [], [], Counter(), set()
    for path in paths:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            embeddings = np.asarray(data["embeddings"], dtype=np.float32)
        ids += meta["ids"]
        captions += meta["captions"]
        skipped += Counter(meta["skipped"])
        keys.add(meta["vision"])
        if len(meta["ids"]):
            parts.append(embeddings)
    if len(keys) != 1:
        raise InputError("out_dir", say("jobs.allowed.one_vision"), f"{len(keys)} vision models",
                         hint=say("jobs.hint.weights_changed"))
    if not ids:
        raise InputError("archive", say("archive.allowed.readable_image"), str(source.name),
                         hint=skipped_note(source.skipped + skipped))
    vision_key = keys.pop()
    embeddings = np.concatenate(parts)
    spacing = nearest_other_distances(embeddings, sample_rows(len(ids)))
    return ArchiveIndex(source, ids, captions, embeddings, spacing, vision_key, skipped,
                        cache_path(config, vision_key, source))
