"""Where an archive's images come from: a local folder, or the miniature world's training set.

A source lists its candidate images cheaply (names, sizes and times: the cache key) and reads them in
batches when the index is built; images that cannot be used are counted, not fatal.

    source = folder_source("photos/", max_images=100_000)       # PNG/JPEG/WebP, captions from .txt or PNG text
    source = training_source(model.folder)                       # miniworld: its 20,000 training images
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageOps

from explorer.errors import InputError
from explorer.outputs.a1111 import parse_parameters
from explorer.messages import joined, say
from explorer.outputs.png import MAX_PIXELS, PARAMETERS_KEY, open_image
from explorer.world.scenes import Scene, check_held_out, make_scenes, render

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")   # what a folder archive indexes
CAPTION_SUFFIX = ".txt"                               # photo.txt beside photo.png is its caption
CAPTION_BYTES = 4096                                  # the start of a caption file that is read
CAPTION_CHARS = 500                                   # longest caption kept
TRAINING_RECORD = "training.json"                     # the record train.py writes beside the weights
SKIP_REASONS = {"non_image": ("archive.skip.non_image", "archive.skip.non_images"),     # reason -> its message
                "unreadable": ("archive.skip.unreadable", "archive.skip.unreadables"),   # keys: one, several
                "too_large": ("archive.skip.too_large", "archive.skip.too_larges"),
                "outside": ("archive.skip.outside", "archive.skip.outsides")}


@dataclass
class Entry:
    """One archive image as read for indexing."""

    id: str                          # relative path ("holidays/beach.jpg") or "train/00042"
    caption: str | None
    image: Image.Image               # RGB


@dataclass
class FolderSource:
    """Images under a folder (sorted by relative path; hidden folders skipped)."""

    folder: Path
    files: list[str]                 # relative paths of candidate images
    captions: dict[str, Path]        # relative image path -> its caption file
    content_key: str                 # sha256 of the files' names, sizes and modification times
    skipped: Counter = field(default_factory=Counter)   # reason -> count (SKIP_REASONS)
    max_pixels: int = MAX_PIXELS

    @property
    def name(self) -> str:
        return say("archive.source.folder", name=self.folder.name)

    def __len__(self) -> int:
        return len(self.files)

    def read(self, start: int, stop: int, skipped: Counter) -> list[Entry]:
        """Decode candidates start..stop; unreadable and oversized images are counted in `skipped`."""
        entries = []
        for rel in self.files[start:stop]:
            try:
                with Image.open(self.folder / rel) as image:
                    if image.width * image.height > self.max_pixels:     # refused before decoding
                        skipped["too_large"] += 1
                        continue
                    text = image.info.get(PARAMETERS_KEY)                # chunks before the pixel data
                    rgb = ImageOps.exif_transpose(image).convert("RGB")  # decodes, upright as photos are shown
            except Image.DecompressionBombError:                          # PIL's own limit, at open
                skipped["too_large"] += 1
                continue
            except (OSError, ValueError, SyntaxError, EOFError):
                skipped["unreadable"] += 1
                continue
            entries.append(Entry(rel, self._caption(rel, text), rgb))
        return entries

    def _caption(self, rel: str, parameters: str | None) -> str | None:
        """The .txt beside the image, else the prompt of a PNG's `parameters` text, else None."""
        if rel in self.captions:
            try:
                with open(self.captions[rel], "rb") as file:
                    text = file.read(CAPTION_BYTES).decode("utf-8", errors="replace")
            except OSError:
                text = ""
        elif isinstance(parameters, str):
            try:
                text = parse_parameters(parameters).prompt
            except InputError:                                           # a malformed parameter line
                text = parameters.split("\n")[0]
        else:
            return None
        text = " ".join(text.split())[:CAPTION_CHARS]
        return text or None

    def open(self, id_: str) -> Image.Image:
        return ImageOps.exif_transpose(open_image(self.folder / id_, "archive", self.max_pixels)).convert("RGB")

    def path(self, id_: str) -> Path | None:
        return self.folder / id_


@dataclass
class TrainingSetSource:
    """The miniature world's training set, drawn again from its seed (exactly train.py's make_dataset)."""

    scenes: list[Scene]
    captions: list[str]
    images: int                      # size of the training set (training.json)
    seed: int
    content_key: str
    held_out: tuple[str, ...] = ()   # colour-shape combinations the training set leaves out (training.json)
    skipped: Counter = field(default_factory=Counter)

    @property
    def name(self) -> str:
        limited = say("archive.source.first", n=len(self)) if len(self) < self.images else ""
        return say("archive.source.training", images=self.images, limited=limited)

    def __len__(self) -> int:
        return len(self.scenes)

    def read(self, start: int, stop: int, skipped: Counter) -> list[Entry]:
        return [Entry(training_id(i), self.captions[i], self.open(training_id(i)))
                for i in range(start, min(stop, len(self)))]

    def open(self, id_: str) -> Image.Image:
        return Image.fromarray(render(self.scenes[int(id_.split("/")[1])]))

    def path(self, id_: str) -> Path | None:
        return None                                                      # drawn on demand, no file


def training_id(i: int) -> str:
    return f"train/{i:05d}"


def training_source(model_folder: Path, limit: int | None = None) -> TrainingSetSource:
    """The training set recorded in model_folder/training.json ("config": images, seed), first `limit` only."""
    record_path = Path(model_folder) / TRAINING_RECORD
    try:
        config = json.loads(record_path.read_text())["config"]
        images, seed = int(config["images"]), int(config["seed"])
        held_out = check_held_out(config.get("held_out", ()))        # records before the gaps hold none
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError("archive", say("archive.allowed.training_record", record=TRAINING_RECORD),
                         str(record_path), hint=f"{type(error).__name__}: {error}") from None
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InputError("limit", say("archive.allowed.limit"), limit)
    count = images if limit is None else min(limit, images)
    world = hashlib.sha256(Path(inspect.getsourcefile(make_scenes)).read_bytes()).hexdigest()[:16]
    key = hashlib.sha256(f"miniworld-training|{images}|{seed}|{count}|{world}|{','.join(held_out)}".encode()
                         ).hexdigest()
    scenes, captions = drawn_scenes(images, seed, held_out)
    return TrainingSetSource(list(scenes[:count]), list(captions[:count]), images, seed, key, held_out)


@lru_cache(maxsize=2)
def drawn_scenes(images: int, seed: int, held_out: tuple[str, ...]) -> tuple[tuple[Scene, ...], tuple[str, ...]]:
    """A training set's scenes and captions, all of them (captions are drawn after every scene): 1.3 s to draw, so
    remembered; the same arguments always draw the same scenes (a pure function's memo, not an app's state)."""
    scenes, captions = make_scenes(images, seed, held_out)
    return tuple(scenes), tuple(captions)


def folder_source(folder, max_images: int, max_pixels: int = MAX_PIXELS, within: Path | None = None,
                  limit: int | None = None) -> FolderSource:
    """List a folder's images (recursively, sorted; hidden files and folders left out).

    More than `max_images` images is refused unless `limit` (the first `limit` only) is given. `within`:
    symbolic links whose target lies outside this folder are skipped and counted (UI and API requests).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError("archive", say("archive.allowed.existing_folder"), str(folder))
    fence = within.resolve() if within is not None else None
    # a request (within a shared root) sees the folder as it named it, never the server's path to it
    shown = str(folder)
    if fence is not None:
        resolved = folder.resolve()
        shown = str(resolved.relative_to(fence)) if resolved.is_relative_to(fence) else folder.name
    found, texts, skipped = [], {}, Counter()
    for dirpath, dirnames, filenames in os.walk(folder):                  # does not enter linked folders
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(n for n in filenames if not n.startswith(".")):
            path, suffix = Path(dirpath) / name, Path(name).suffix.lower()
            rel = path.relative_to(folder).as_posix()
            if fence is not None and path.is_symlink() and not path.resolve().is_relative_to(fence):
                skipped["outside"] += 1
            elif suffix in IMAGE_SUFFIXES:
                found.append(rel)
            elif suffix == CAPTION_SUFFIX:
                texts[rel[: -len(suffix)]] = path
            else:
                skipped["non_image"] += 1
        if limit is None and len(found) > max_images:
            raise InputError("archive", say("archive.allowed.at_most_images", n=max_images),
                             say("archive.received.more_images", n=max_images, folder=shown))
    found.sort()
    stems = {rel: rel[: -len(Path(rel).suffix)] for rel in found}
    skipped["non_image"] += len(set(texts) - set(stems.values()))          # caption files of no image
    files = found[: max_images if limit is None else min(limit, max_images)]
    captions = {rel: texts[stems[rel]] for rel in files if stems[rel] in texts}
    if not files:
        raise InputError("archive", say("archive.allowed.some_image"), shown,
                         hint=skipped_note(skipped))
    return FolderSource(folder, files, captions, _content_key(folder, files, captions), skipped,
                        max_pixels=max_pixels)


def _content_key(folder: Path, files: list[str], captions: dict[str, Path]) -> str:
    """sha256 over each image's (and caption's) relative path, size and modification time."""
    digest = hashlib.sha256()
    for rel in files:
        for path in (folder / rel, captions.get(rel)):
            if path is not None:
                stat = path.stat()
                digest.update(f"{path.relative_to(folder).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def skipped_note(skipped: Counter, sentence: bool = False) -> str:
    """'skipped 2 non-image files, 1 unreadable image' ('' when nothing was skipped); `sentence`: 'Skipped ... .'
    (a sentence of a note)."""
    parts = joined(", ", [say(SKIP_REASONS[k][0], n=n) if n == 1 else say(SKIP_REASONS[k][1], n=n)
                          for k, n in sorted(skipped.items()) if n])
    if not parts:
        return ""
    return say("archive.skipped_sentence", parts=parts) if sentence else say("archive.skipped", parts=parts)


def allowed_folder(text: str, roots) -> tuple[Path, Path]:
    """(folder, its root): a folder a UI/API request names, real path inside one of the operator's roots.

    A relative name is looked up under each root; `..` and symbolic links are resolved before the check,
    so neither can lead out of the roots.
    """
    allowed = [Path(root).expanduser().resolve() for root in roots]
    listing = ", ".join(str(root) for root in allowed)
    expected = say("archive.allowed.roots", roots=listing) if allowed else say("archive.allowed.no_roots")
    if not isinstance(text, str) or len(text) > 4096:
        raise InputError("archive", expected, text)
    asked = Path(text).expanduser()
    for candidate in [asked] if asked.is_absolute() else [root / asked for root in allowed]:
        try:
            real = candidate.resolve()
            inside = [root for root in allowed if real.is_relative_to(root)]
            if inside and real.is_dir():
                return real, inside[0]
        except (OSError, ValueError):            # an embedded NUL byte, a link loop
            continue
    raise InputError("archive", expected, text)


def default_source(model, limit: int | None = None) -> TrainingSetSource | None:
    """A model's own archive: miniworld's training set (from its training.json); None for other models."""
    folder = model.folder
    if model.family == "miniworld" and folder is not None and (folder / TRAINING_RECORD).is_file():
        return training_source(folder, limit)
    return None
