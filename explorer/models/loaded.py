"""LoadedModel: a diffusers pipeline plus every piece of per-model state the explorer keeps.

All state a stage keeps for a model is declared here, bounded, and owned by the model object:
no stage sets attributes on the model, the pipeline or its tokenizer from outside.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from explorer.cache import LRUCache
from explorer.models.families import StableDiffusionFamily, family_adapter
from explorer.models.presets import Preset

ENCODINGS_CACHED = 512        # prompt encodings kept per model (text.encoding)
INDEXES_CACHED = 8            # concept indexes kept per model (concepts.index)
VOCABULARIES_CACHED = 4       # the model's own vocabularies (concepts.vocabularies)
VISIONS_CACHED = 2            # the family's CLIP vision model, or why it is unavailable (models.vision)
TINY_DECODERS_CACHED = 2      # taesd preview decoders (models.previews)


@dataclass(eq=False)
class LoadedModel:
    """A pipeline plus what the explorer needs to know about it."""

    pipe: object                 # a diffusers pipeline of the family's class
    name: str                    # what the user asked for (preset, hub id or folder)
    preset: Preset               # defaults for steps, guidance, size, scheduler
    device: torch.device
    dtype: torch.dtype
    banner: str = ""             # shown in the UI and the log when something fell back
    adapter: StableDiffusionFamily | None = None   # the family adapter (from preset.family when None)
    latent_rgb: dict = field(default_factory=dict)  # {"factors": Cx3, "bias": 3} for approx previews
    base_scheduler_config: dict = field(default_factory=dict)  # the noise schedule the model shipped with
    # one pipeline call at a time: the denoiser (UNet, scheduler swap, VAE decode; diffusers pipelines are not
    # thread-safe, the scheduler's step index is shared state)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # the tokenizers and text encoders, apart from `lock`: /tokens, arithmetic, maps and axes never wait for a
    # generation (the fast tokenizer's padding settings are shared state, so one user of them at a time). Order:
    # `lock` may be held when taking `text_lock`, never the other way. With model CPU offload both are one lock
    # (accelerate's hooks move the parts on and off the device in turn)
    text_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    encodings: LRUCache = field(default_factory=lambda: LRUCache(ENCODINGS_CACHED), repr=False)
    concept_indexes: LRUCache = field(default_factory=lambda: LRUCache(INDEXES_CACHED), repr=False)
    vocabularies: LRUCache = field(default_factory=lambda: LRUCache(VOCABULARIES_CACHED), repr=False)
    index_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)  # one index build at a time
    index_build: tuple | None = None   # (vocabulary name, done, total) while a concept index is being encoded
    map_warm: bool = False             # the concept map's warm-up ran for this model
    # (family, source) -> (VisionModel or None, why it is unavailable): loaded on first use (models.vision)
    visions: LRUCache = field(default_factory=lambda: LRUCache(VISIONS_CACHED), repr=False)
    vision_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)   # one vision load at a time
    # (repo, device, dtype) -> AutoencoderTiny: the taesd preview decoder (models.previews)
    tiny_decoders: LRUCache = field(default_factory=lambda: LRUCache(TINY_DECODERS_CACHED), repr=False)
    backend: str = "torch"             # where the UNet and the VAE decoder run (models.backends: torch, openvino)
    fast_path: object | None = field(default=None, repr=False)   # models.backends.FastPath when not on torch
    decoder: str = "full"              # the final images' decoder: full (the VAE) or tiny (models.tiny_decoder)
    deepcache: int = 0                 # DeepCache interval of its generations, 0: off (generation.deepcache)

    def __post_init__(self):
        if self.adapter is None:
            self.adapter = family_adapter(self.preset.family)
        if not self.base_scheduler_config:
            self.base_scheduler_config = dict(self.pipe.scheduler.config)
        if not self.latent_rgb:
            own = self.folder / "latent_rgb.json" if self.folder is not None else None
            self.latent_rgb = json.loads(own.read_text()) if own is not None and own.is_file() \
                else self.adapter.latent_rgb

    @property
    def family(self) -> str:
        return self.adapter.name

    @property
    def denoiser(self):
        """The UNet, or the transformer of a flow-matching family."""
        return self.adapter.denoiser(self.pipe)

    @property
    def tokenizer(self):
        return self.pipe.tokenizer

    @property
    def text_encoder(self):
        return self.pipe.text_encoder

    @property
    def vae_scale_factor(self) -> int:
        return int(self.pipe.vae_scale_factor)

    @property
    def folder(self) -> Path | None:
        path = Path(self.preset.source)
        return path if path.is_dir() else None
