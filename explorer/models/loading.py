"""Load a model: presets, hub ids, local folders, and the built-in offline models.

Every model loads into its family's real diffusers pipeline (explorer.models.families), so the
rest of the explorer needs no special case. When the hub cannot be reached and the model is not
cached, loading falls back to the built-in offline model and says so in `LoadedModel.banner`.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import torch

from explorer.config import ExplorerConfig
from explorer.errors import InputError, ModelLoadError
from explorer.messages import say
from explorer.models.backends import check_backend, use_backend
from explorer.models.tiny_decoder import check_decoder, use_decoder
from explorer.models.builtin import BUILDERS
from explorer.models.families import family_adapter
from explorer.models.loaded import LoadedModel
from explorer.models.presets import (DEFAULT_MODEL, DTYPES, MINIWORLD_DIR, PRESETS, family_of_pipeline, hub_preset,
                                     resolve_preset)

log = logging.getLogger(__name__)


def pick_device(device: str | None = None) -> torch.device:
    """The device to run on: the one asked for, else CUDA, then MPS, then CPU."""
    if device:
        valid = ("cpu", "cuda", "mps")
        if device.split(":")[0] not in valid:
            raise InputError("device", say("loading.device", choices=", ".join(valid)), device)
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, dtype: str | None = None, family: str | None = None) -> torch.dtype:
    """float16 on accelerators (bfloat16 on CUDA for the flow-matching transformers, whose activations overflow
    float16: the dtype their model cards load them in), float32 on the CPU, unless asked otherwise."""
    if dtype:
        if dtype not in DTYPES:
            raise InputError("dtype", say("checks.one_of", choices=", ".join(DTYPES)), dtype)
        return DTYPES[dtype]
    if device.type == "cuda" and family is not None and family_adapter(family).flow:
        return torch.bfloat16
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32


def load_model(name: str = DEFAULT_MODEL, device: str | None = None, dtype: str | None = None,
               fallback: bool = True, low_memory: bool = False, backend: str = "torch",
               cache_dir: Path | None = None, decoder: str = "full") -> LoadedModel:
    """Load a model by preset name, hub id or folder; fall back to the offline model if unreachable.

    `low_memory` (for SDXL on small machines): diffusers' model CPU offload on CUDA (each part moves to
    the GPU only while it runs) and VAE slicing and tiling everywhere (large images decoded in tiles:
    much less memory, and pixels that differ slightly from an untiled decode at the tile seams).
    `backend` (models.backends): "openvino" converts the UNet and VAE decoder once (cached under `cache_dir`) and
    runs them there; a backend the machine or the model cannot take is refused naming the field, before loading.
    `decoder` (models.tiny_decoder): "tiny" decodes final images with the family's TAESD (loaded now; the offline
    fallback decodes with its VAE).
    """
    # 1. resolve the name (the family from the model's own files) and the hardware
    check_backend(backend)
    check_decoder(decoder)
    preset = resolve_preset(name)
    if name not in PRESETS and not Path(preset.source).is_dir():
        preset = _with_hub_family(preset)
    torch_device = pick_device(device)
    torch_dtype = pick_dtype(torch_device, dtype, preset.family)
    # 2. build or download
    try:
        if preset.source in BUILDERS:
            pipe = BUILDERS[preset.source]()
            torch_dtype = torch.float32
        else:
            pipe = _from_pretrained(family_adapter(preset.family).pipeline, preset.source, torch_dtype)
    except (OSError, ValueError, RuntimeError) as error:
        if not fallback or preset.source in BUILDERS:
            raise ModelLoadError(say("loading.failed", name=repr(name), error=str(error))) from error
        offline = offline_model_name()
        reason = _short_reason(error, preset.source)
        banner = say("loading.fallback", name=repr(name), reason=reason, offline=repr(offline),
                     about=PRESETS[offline].description)
        log.warning(banner)
        loaded = load_model(offline, device, dtype, fallback=False, low_memory=low_memory, backend=backend,
                            cache_dir=cache_dir)
        loaded.banner = banner
        return loaded
    # 3. place on the device
    if low_memory and torch_device.type == "cuda":
        pipe.enable_model_cpu_offload(device=torch_device)
    else:
        pipe = pipe.to(torch_device)
    if low_memory:
        pipe.vae.enable_slicing()
        pipe.vae.enable_tiling()
    t5_tokenizer = family_adapter(preset.family).t5(pipe)[0] if family_adapter(preset.family).flow else None
    if preset.text_length is not None and t5_tokenizer is not None:   # T5 families: the pipeline's max_sequence_length
        t5_tokenizer.model_max_length = preset.text_length
    pipe.set_progress_bar_config(desc=f"{name}: x_t → x0", leave=False)   # notation, not words: read in any language
    loaded = LoadedModel(pipe, name, preset, torch_device, torch_dtype)
    if low_memory and torch_device.type == "cuda":        # offload hooks move parts in turn: one lock for all of them
        loaded.text_lock = loaded.lock
    # 4. the backend: converted once, cached on disk (models.backends)
    if backend != "torch":
        use_backend(loaded, backend, cache_dir if cache_dir is not None else ExplorerConfig().cache_dir)
    if decoder != "full":
        use_decoder(loaded, decoder)
    return loaded


def wrap_pipeline(pipe, name: str = "my-pipeline", family: str | None = None, steps: int | None = None,
                  guidance: float | None = None, size: int | None = None, scheduler: str | None = None) -> LoadedModel:
    """Your own diffusers pipeline (already loaded, on its device) as a model every view of the explorer takes.

    The family comes from the pipeline's class (StableDiffusionPipeline -> sd1/sd2 by the text encoder's
    width, StableDiffusionXLPipeline -> sdxl) unless given; defaults follow the family's hub defaults.
    Recipes made with it carry `name` as their model.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError("name", say("loading.model_name"), name)
    text_width = getattr(getattr(getattr(pipe, "text_encoder", None), "config", None), "hidden_size", None)
    found = family or family_of_pipeline(type(pipe).__name__, text_width)
    if found is None:
        raise InputError("pipe", say("loading.pipeline"), type(pipe).__name__)
    base = hub_preset(name, found if found in ("sd1", "sd2", "sdxl", "sd3", "flux") else "sd1")
    preset = replace(base, family=found, about=say("loading.own_pipeline", name=name, pipeline=type(pipe).__name__),
                     **{k: v for k, v in dict(steps=steps, guidance=guidance, size=size, scheduler=scheduler).items()
                        if v is not None})
    device = getattr(pipe, "device", torch.device("cpu"))
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    dtype = getattr(denoiser, "dtype", torch.float32)
    return LoadedModel(pipe, name, preset, torch.device(device), dtype)


def offline_model_name() -> str:
    """miniworld when its trained weights are shipped, else tiny-random."""
    return "miniworld" if (MINIWORLD_DIR / "model_index.json").is_file() else "tiny-random"


def _short_reason(error: Exception, source: str = "") -> str:
    """Why a model did not load, in words: the hub, or what is wrong with a local folder."""
    text = " ".join(str(error).split()) or type(error).__name__
    if source and Path(source).is_dir():               # a local folder: the hub has nothing to do with it
        return say("loading.folder_failed", error=text[:300])
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return say("loading.offline")
    if any(word in text.lower() for word in ("cache", "connect", "resolve", "network", "offline")):
        return say("loading.hub_unreachable")
    return text[:200]


def _with_hub_family(preset):
    """Correct a hub id's guessed family from its model_index.json (a small download, cached by the hub library)."""
    try:
        from diffusers import DiffusionPipeline

        index = DiffusionPipeline.load_config(preset.source)
    except (OSError, ValueError, RuntimeError) as error:        # offline or not a pipeline: keep the guess
        log.info("could not read %s/model_index.json (%s); family guessed from the name: %s",
                 preset.source, str(error).splitlines()[0][:80] if str(error) else type(error).__name__,
                 preset.family)
        return preset
    family = family_of_pipeline(index.get("_class_name"))
    if family is None or family == preset.family or (family == "sd1" and preset.family == "sd2"):
        return preset                                # sd1 vs sd2 needs the encoder config; keep the name's guess
    return hub_preset(preset.source, family)


def _from_pretrained(pipeline: str, source: str, torch_dtype: torch.dtype):
    import diffusers

    log.info("loading %s (downloads show progress on first use)", source)
    # the SD 1.x/2.x pipelines carry a safety checker the explorer does not load; SD3 and FLUX have none
    extra = dict(safety_checker=None, feature_extractor=None, requires_safety_checker=False) \
        if pipeline.startswith("StableDiffusion") and "3" not in pipeline else {}
    if pipeline == "StableDiffusion3Pipeline" and _index_lacks(source, "text_encoder_3"):
        extra = dict(text_encoder_3=None, tokenizer_3=None)        # an SD3 folder saved without T5 (miniworld-dit)
    return getattr(diffusers, pipeline).from_pretrained(source, dtype=torch_dtype, use_safetensors=True, **extra)


def _index_lacks(source: str, part: str) -> bool:
    """Whether a local pipeline folder's model_index.json leaves `part` out (null), as diffusers saves a None part."""
    index = Path(source) / "model_index.json"
    return index.is_file() and json.loads(index.read_text()).get(part, [None])[0] is None
