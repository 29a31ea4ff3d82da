"""An optional CLIP vision model per model family: image embeddings, image-text similarity, zero-shot labels.

Stable Diffusion conditions on CLIP's *text* tower only. To ask "what does this picture look like
to CLIP" we need the matching *image* tower, a separate download, loaded lazily on first use:

- sd1: openai/clip-vit-large-patch14 (SD 1.x uses its text tower, so pictures and prompts share a space)
- sd2: laion/CLIP-ViT-H-14-laion2B-s32B-b79K (the OpenCLIP ViT-H whose text tower SD 2.x / Turbo uses)
- miniworld: the CLIPModel trained with the miniature world, shipped at assets/miniworld/clip/
- tiny: a random tiny CLIPModel built from configs (real classes, random weights: for tests)

`load_vision(model)` returns None when the family has no vision model here (offline, not cached);
`vision_status(model)` says why, in words for the UI.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from explorer.cache import LRUCache
from explorer.errors import InputError
from explorer.messages import say
from explorer.models.builtin import TEXT_MAX_LENGTH, build_tiny_clip

log = logging.getLogger(__name__)

# OpenAI CLIP's pixel normalisation (also used by the LAION OpenCLIP ViT-H and the miniworld CLIP)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
EMBED_BATCH = 32                      # images or texts per forward pass
CONCEPT_EMBEDS_CACHED = 4             # CLIP text embeddings of vocabularies kept per vision model (explore.search)
ARCHIVES_CACHED = 4                   # archive indexes kept in memory per vision model (100,000 x 768 float32: 307 MB)

ProgressFn = Callable[..., object]    # progress(fraction, description): gr.Progress fits


@dataclass
class VisionModel:
    """A CLIPModel with its tokenizer: embeddings of images and texts in one shared space."""

    clip: object                      # transformers.CLIPModel
    tokenizer: object                 # transformers.CLIPTokenizer
    name: str                         # source: hub id, folder or "tiny-random-clip"
    about: str                        # one line for the UI
    image_size: int                   # square input side of the vision tower
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # what other stages keep for this vision model, declared here (as LoadedModel does for a diffusion model):
    # vocabulary hash -> (labels, (N, d) text embeddings) of the concepts (explore.search)
    concept_embeds: LRUCache = field(default_factory=lambda: LRUCache(CONCEPT_EMBEDS_CACHED), repr=False)
    # (vision key, source key, cache path) -> ArchiveIndex, the build under way's (done, total), one build at a time
    # (archive.index.load_archive)
    archives: LRUCache = field(default_factory=lambda: LRUCache(ARCHIVES_CACHED), repr=False)
    archive_building: dict = field(default_factory=dict, repr=False)
    archive_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def logit_scale(self) -> float:
        """CLIP's learned temperature exp(t) (Radford et al. 2021), capped at 100 as in training."""
        return float(min(self.clip.logit_scale.exp().item(), 100.0))

    def pixel_values(self, images: list[Image.Image]) -> torch.Tensor:
        """PIL images -> (n, 3, S, S): resize the short side to S (bicubic), centre-crop, CLIP-normalise."""
        images = _check_images(images)
        size = self.image_size
        mean = np.asarray(CLIP_MEAN, dtype=np.float32)
        std = np.asarray(CLIP_STD, dtype=np.float32)
        arrays = []
        for image in images:
            image = image.convert("RGB")
            w, h = image.size
            scale = size / min(w, h)
            resized = image.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                                   Image.Resampling.BICUBIC)
            left, top = (resized.width - size) // 2, (resized.height - size) // 2
            crop = resized.crop((left, top, left + size, top + size))
            x = np.asarray(crop, dtype=np.float32) / 255.0                 # (S, S, 3) in [0, 1]
            arrays.append(((x - mean) / std).transpose(2, 0, 1))           # (3, S, S)
        return torch.from_numpy(np.stack(arrays))                          # (n, 3, S, S)

    def image_embeds(self, images: list[Image.Image]) -> np.ndarray:
        """Unit-norm image embeddings (n, d), float32."""
        pixels = self.pixel_values(images)
        outputs = []
        with self.lock, torch.inference_mode():
            for start in range(0, len(pixels), EMBED_BATCH):
                chunk = pixels[start:start + EMBED_BATCH].to(self.device, self.dtype)
                vision = self.clip.vision_model(pixel_values=chunk).pooler_output      # (b, hidden)
                outputs.append(self.clip.visual_projection(vision).float().cpu())     # (b, d)
        return _unit(torch.cat(outputs))

    def text_embeds(self, texts: list[str]) -> np.ndarray:
        """Unit-norm text embeddings (n, d), float32 (texts longer than 77 tokens are cut, as in CLIP)."""
        texts = _check_texts(texts)
        outputs = []
        with self.lock, torch.inference_mode():
            for start in range(0, len(texts), EMBED_BATCH):
                batch = self.tokenizer(texts[start:start + EMBED_BATCH], padding=True, truncation=True,
                                       max_length=TEXT_MAX_LENGTH, return_tensors="pt")
                text = self.clip.text_model(input_ids=batch["input_ids"].to(self.device),
                                            attention_mask=batch["attention_mask"].to(self.device))
                outputs.append(self.clip.text_projection(text.pooler_output).float().cpu())  # (b, d)
        return _unit(torch.cat(outputs))

    def similarity(self, images: list[Image.Image], texts: list[str]) -> np.ndarray:
        """Cosine similarity (n_images, n_texts) between image and text embeddings."""
        return self.image_embeds(images) @ self.text_embeds(texts).T

    def zero_shot(self, images: list[Image.Image], labels: list[str]) -> np.ndarray:
        """Zero-shot probabilities (n_images, n_labels): softmax(logit_scale * cosine) over the labels."""
        labels = _check_texts(labels, field_name="labels")
        if len(labels) < 2:
            raise InputError("labels", say("vision.two_labels"), labels)
        return softmax(self.logit_scale * self.similarity(images, labels), axis=1)


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x - max) / sum exp(x - max): numerically stable softmax along `axis`."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def _unit(x: torch.Tensor) -> np.ndarray:
    """Rows scaled to unit norm, as numpy float32 (n, d)."""
    return torch.nn.functional.normalize(x.float(), dim=-1).numpy()


def _check_images(images) -> list[Image.Image]:
    if isinstance(images, Image.Image):
        images = [images]
    images = list(images or [])
    if not images or not all(isinstance(i, Image.Image) for i in images):
        raise InputError("images", say("vision.images"), [type(i).__name__ for i in images])
    return images


def _check_texts(texts, field_name: str = "texts") -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts or [])
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise InputError(field_name, say("vision.texts"), texts)
    return texts


# ----------------------------------------------------------------------------------------------
# loading (kept by the model, LoadedModel.visions, per family and source; failures with their reason)


def vision_source(model) -> tuple[str, str] | None:
    """(source, about) of the family's CLIP vision model, or None when the family has none.

    A model folder with its own clip/ (miniworld) uses it; otherwise the family adapter's choice.
    """
    source = model.adapter.vision
    if source is not None and model.family == "miniworld":
        local = model.folder / "clip" if model.folder is not None else None
        if local is not None and local.is_dir():
            return str(local), source[1]
    return source


def load_vision(model, progress: ProgressFn | None = None, refresh: bool = False) -> VisionModel | None:
    """The CLIP vision model for a model's family, loaded on first use; None when unavailable here."""
    source = vision_source(model)
    family = model.family
    if source is None:
        return None
    key = (family, source[0])
    with model.vision_lock:
        if key in model.visions and not refresh:
            return model.visions.peek(key)[0]
        if progress is not None:
            progress(0.0, say("vision.loading", name=source[0]))
        reason = ""
        try:
            vision = _load(source[0], source[1], model.device, model.dtype)
        except (OSError, ValueError, RuntimeError, ImportError) as error:
            vision, reason = None, _reason(source[0], error)
            log.warning("CLIP vision model unavailable: %s", reason)
        if progress is not None:
            progress(1.0, say("vision.ready") if vision else say("vision.unavailable"))
        model.visions.put(key, (vision, reason))
        return vision


def vision_on_disk(model) -> bool:
    """Whether the family's CLIP vision model is a folder already here (no download to wait for)."""
    source = vision_source(model)
    return source is not None and Path(source[0]).is_dir()


def vision_status(model) -> str:
    """One line for the UI: which vision model serves this family, loaded or not, and why not."""
    source = vision_source(model)
    family = model.family
    if source is None:
        return say("vision.none_known", family=repr(family))
    key = (family, source[0])
    shown = shown_source(source[0])
    if key in model.visions:
        vision, reason = model.visions.peek(key)
        if vision is not None:
            return say("vision.loaded", shown=shown, about=source[1])
        return say("vision.unavailable_because", reason=reason or say("vision.unknown_reason"))
    return say("vision.optional", shown=shown, about=source[1])


def shown_source(source: str) -> str:
    """A vision model's source as a user may read it: a hub id, or a folder by its name (no server paths)."""
    if source in ("builtin", "tiny-random-clip"):
        return say("vision.builtin")
    return say("vision.model_folder", name=Path(source).name) if Path(source).is_absolute() else source


def _reason(source: str, error: Exception) -> str:
    if os.environ.get("HF_HUB_OFFLINE") == "1" and source.count("/") == 1 and not Path(source).exists():
        return say("vision.not_cached", source=source)
    if source != "builtin" and Path(source).is_absolute() and not Path(source).exists():
        return say("vision.missing", source=shown_source(source))
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return say("vision.failed", source=source, error=text[:200])


def _load(source: str, about: str, device: torch.device, dtype: torch.dtype) -> VisionModel:
    from transformers import CLIPModel, CLIPTokenizer

    if source == "builtin":
        clip, tokenizer = build_tiny_clip()
        name, dtype = "tiny-random-clip", torch.float32
    else:
        if Path(source).is_absolute() and not Path(source).is_dir():
            raise OSError(f"{source} does not exist")
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        clip = CLIPModel.from_pretrained(source, dtype=dtype, local_files_only=offline)
        tokenizer = CLIPTokenizer.from_pretrained(source, local_files_only=offline)
        name = source
    clip = clip.to(device).eval()
    return VisionModel(clip, tokenizer, name, about, int(clip.config.vision_config.image_size), device, dtype)
