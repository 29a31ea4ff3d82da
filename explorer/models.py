"""Load a Stable Diffusion pipeline: presets, hub ids, local folders, and the built-in offline models.

Every model loads into a real diffusers `StableDiffusionPipeline`, so the rest of the explorer
needs no special case. When the hub cannot be reached and the model is not cached, loading
falls back to the built-in offline model and says so in `LoadedModel.banner`.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from explorer.errors import InputError, ModelLoadError

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
MINIWORLD_DIR = ASSETS / "miniworld"
CLIP_TOKENIZER_DIR = ASSETS / "clip_tokenizer"


@dataclass(frozen=True)
class Preset:
    """A named model with the settings it was made for."""

    source: str          # hub id, local folder, or "builtin"
    family: str          # "sd1", "sd2", "tiny", "miniworld": picks previews and CLIP vision models
    steps: int           # default num_inference_steps
    guidance: float      # default guidance_scale
    size: int            # default width and height in pixels
    scheduler: str       # default scheduler name (see SCHEDULERS)
    about: str           # one line for the UI


PRESETS: dict[str, Preset] = {
    "sd15": Preset("stable-diffusion-v1-5/stable-diffusion-v1-5", "sd1", 25, 7.5, 512, "euler_a",
                   "Stable Diffusion 1.5 (512x512, CLIP ViT-L/14 text encoder)"),
    "sd21-base": Preset("stabilityai/stable-diffusion-2-1-base", "sd2", 25, 7.5, 512, "euler_a",
                        "Stable Diffusion 2.1 base (512x512, OpenCLIP ViT-H text encoder)"),
    "sd-turbo": Preset("stabilityai/sd-turbo", "sd2", 1, 0.0, 512, "euler_a",
                       "SD-Turbo: one to four steps, no guidance (distilled from SD 2.1)"),
    "miniworld": Preset(str(MINIWORLD_DIR), "miniworld", 25, 5.0, 64, "ddim",
                        "miniworld: a tiny model trained by this project on coloured shapes (offline)"),
    "tiny-random": Preset("builtin", "tiny", 20, 7.5, 64, "ddim",
                          "tiny-random: random weights, same architecture (for tests; draws noise)"),
}
DEFAULT_MODEL = "sd15"

# name -> (diffusers class name, extra config, the sampler name AUTOMATIC1111 writes)
SCHEDULERS: dict[str, tuple[str, dict, str]] = {
    "ddim": ("DDIMScheduler", {}, "DDIM"),
    "euler": ("EulerDiscreteScheduler", {}, "Euler"),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}, "Euler a"),
    "dpm++2m": ("DPMSolverMultistepScheduler", {}, "DPM++ 2M"),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}, "PLMS"),
    "lms": ("LMSDiscreteScheduler", {}, "LMS"),
}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class LoadedModel:
    """A pipeline plus what the explorer needs to know about it."""

    pipe: object                 # diffusers.StableDiffusionPipeline
    name: str                    # what the user asked for (preset, hub id or folder)
    preset: Preset               # defaults for steps, guidance, size, scheduler
    device: torch.device
    dtype: torch.dtype
    banner: str = ""             # shown in the UI and the log when something fell back
    latent_rgb: dict = field(default_factory=dict)  # {"factors": 4x3, "bias": 3} for approx previews
    base_scheduler_config: dict = field(default_factory=dict)  # the noise schedule the model shipped with
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)  # one pipeline call at a time

    def __post_init__(self):
        if not self.base_scheduler_config:
            self.base_scheduler_config = dict(self.pipe.scheduler.config)
        self.pipe.tokenizer._explorer_lock = self.lock

    @property
    def family(self) -> str:
        return self.preset.family

    @property
    def tokenizer(self):
        return self.pipe.tokenizer

    @property
    def text_encoder(self):
        return self.pipe.text_encoder

    @property
    def folder(self) -> Path | None:
        path = Path(self.preset.source)
        return path if path.is_dir() else None


_SHARED_TOKENIZER_LOCK = threading.RLock()


def tokenizer_lock(tokenizer) -> threading.RLock:
    """The lock of the model that owns this tokenizer (one shared lock for others).

    transformers 5's CLIPTokenizer is the Rust fast tokenizer, whose padding and truncation settings
    are state shared between threads: two threads tokenizing at once corrupt each other's output.
    """
    return getattr(tokenizer, "_explorer_lock", None) or _SHARED_TOKENIZER_LOCK


def pick_device(device: str | None = None) -> torch.device:
    """The device to run on: the one asked for, else CUDA, then MPS, then CPU."""
    if device:
        valid = ("cpu", "cuda", "mps")
        if device.split(":")[0] not in valid:
            raise InputError("device", f"one of {', '.join(valid)} (optionally cuda:N)", device)
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(device: torch.device, dtype: str | None = None) -> torch.dtype:
    """float16 on accelerators, float32 on the CPU, unless asked otherwise."""
    if dtype:
        if dtype not in DTYPES:
            raise InputError("dtype", f"one of {', '.join(DTYPES)}", dtype)
        return DTYPES[dtype]
    return torch.float16 if device.type in ("cuda", "mps") else torch.float32


def make_scheduler(name: str, base_config: dict):
    """A fresh scheduler of the named kind, configured from the model's own noise schedule."""
    import diffusers

    if name not in SCHEDULERS:
        raise InputError("scheduler", f"one of {', '.join(SCHEDULERS)}", name)
    class_name, extra, _ = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config({**base_config, **extra})


def resolve_preset(name: str) -> Preset:
    """The preset for a name, or one made up for a hub id or local folder."""
    if not name or not name.strip():
        raise InputError("model", f"a preset ({', '.join(PRESETS)}), a Hugging Face id or a local folder", name)
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise InputError("model", "a diffusers folder containing model_index.json", name)
        return Preset(str(path), _guess_family(path), 25, 7.5, 512, "euler_a", f"local model {path.name}")
    if name.count("/") == 1 and " " not in name:
        family = "sd2" if "stable-diffusion-2" in name or "turbo" in name else "sd1"
        return Preset(name, family, 25, 7.5, 512, "euler_a", f"{name} from the Hugging Face hub")
    raise InputError("model", f"a preset ({', '.join(PRESETS)}), a Hugging Face id (org/name) or an existing "
                     "local folder", name)


def _guess_family(folder: Path) -> str:
    try:
        config = json.loads((folder / "text_encoder" / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "sd1"
    return "sd2" if config.get("hidden_size") == 1024 else "sd1"


def load_model(name: str = DEFAULT_MODEL, device: str | None = None, dtype: str | None = None,
               fallback: bool = True) -> LoadedModel:
    """Load a model by preset name, hub id or folder; fall back to the offline model if unreachable."""
    # 1. resolve the name and the hardware
    preset = resolve_preset(name)
    torch_device = pick_device(device)
    torch_dtype = pick_dtype(torch_device, dtype)
    # 2. build or download
    try:
        if preset.source == "builtin":
            pipe = build_tiny_random()
            torch_dtype = torch.float32
        else:
            pipe = _from_pretrained(preset.source, torch_dtype)
    except (OSError, ValueError, RuntimeError) as error:
        if not fallback or preset.source == "builtin":
            raise ModelLoadError(f"model {name!r} could not be loaded: {error}") from error
        offline = offline_model_name()
        reason = _short_reason(error)
        banner = (f"Could not load {name!r} ({reason}). Showing the built-in offline model "
                  f"{offline!r} instead: {PRESETS[offline].about}. For real images, connect to the "
                  f"Hugging Face hub once (or pass --model with a local diffusers folder) and restart.")
        log.warning(banner)
        loaded = load_model(offline, device, dtype, fallback=False)
        loaded.banner = banner
        return loaded
    # 3. place on the device
    pipe = pipe.to(torch_device)
    pipe.set_progress_bar_config(desc=f"denoising ({name})", leave=False)
    return LoadedModel(pipe, name, preset, torch_device, torch_dtype, latent_rgb=_latent_rgb(preset))


def offline_model_name() -> str:
    """miniworld when its trained weights are shipped, else tiny-random."""
    return "miniworld" if (MINIWORLD_DIR / "model_index.json").is_file() else "tiny-random"


def _short_reason(error: Exception) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return "offline mode (HF_HUB_OFFLINE=1) and not in the local cache"
    if any(word in text.lower() for word in ("cache", "connect", "resolve", "network", "offline")):
        return "the Hugging Face hub cannot be reached and the model is not in the local cache"
    return text[:200]


def _from_pretrained(source: str, torch_dtype: torch.dtype):
    from diffusers import StableDiffusionPipeline

    log.info("loading %s (downloads show progress on first use)", source)
    return StableDiffusionPipeline.from_pretrained(
        source, dtype=torch_dtype, use_safetensors=True,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def _latent_rgb(preset: Preset) -> dict:
    """The approx preview's latent->RGB map: the model's own file if it ships one, else the family's."""
    from explorer.previews import LATENT_RGB

    folder = Path(preset.source)
    own = folder / "latent_rgb.json"
    if own.is_file():
        return json.loads(own.read_text())
    return LATENT_RGB["sd2" if preset.family == "sd2" else "sd1"]


def build_tiny_random(seed: int = 0):
    """A randomly initialised miniature SD pipeline: the real classes, tiny configs, no download.

    Configs follow diffusers' own `get_dummy_components` (tests/pipelines/stable_diffusion); the
    tokenizer is CLIP's real BPE vocabulary shipped in assets/clip_tokenizer.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, norm_num_groups=32)
        vae = AutoencoderKL(
            block_out_channels=[32, 64], in_channels=3, out_channels=3,
            down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
            up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], latent_channels=4, norm_num_groups=32)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, hidden_size=32, intermediate_size=64,
            layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=5, vocab_size=49408,
            max_position_embeddings=77, projection_dim=32))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    tokenizer = CLIPTokenizer(str(CLIP_TOKENIZER_DIR / "vocab.json"), str(CLIP_TOKENIZER_DIR / "merges.txt"),
                              model_max_length=77)
    for module in (unet, vae, text_encoder):
        module.eval()
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
