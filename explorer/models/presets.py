"""Named models, the schedulers the explorer offers, and how a model name is resolved."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path, PureWindowsPath

import torch

from explorer.config import ASSETS
from explorer.errors import InputError, ModelLoadError
from explorer.messages import say

MINIWORLD_DIR = ASSETS / "miniworld"
MINIWORLD_DIT_DIR = ASSETS / "miniworld-dit"      # explorer/miniworld/train_dit.py: the same world, a transformer
CLIP_TOKENIZER_DIR = ASSETS / "clip_tokenizer"
T5_TOKENIZER_DIR = ASSETS / "t5_tokenizer"
CONCEPTS_DIR = ASSETS / "concepts"
NAMED = "presets.named"          # an about line that starts with the model's name: "miniworld: a tiny model ..."


@dataclass(frozen=True)
class Preset:
    """A named model with the settings it was made for."""

    source: str          # hub id, local folder, or "builtin"
    family: str          # a key of explorer.models.families.FAMILIES
    steps: int           # default num_inference_steps
    guidance: float      # default guidance_scale
    size: int            # default width and height in pixels
    scheduler: str       # default scheduler name (see SCHEDULERS)
    about: str           # one line for the UI
    max_steps: int | None = None       # distilled (turbo) models: the steps they were made for
    max_guidance: float | None = None  # distilled models were trained without classifier-free guidance
    # default step preview decoder (one of explorer.models.previews.PREVIEW_DECODERS): "approx" costs nothing;
    # "full" (the VAE, 2 decodes a watched step) where approx cannot match the final image's colours within
    # 10/255 (bench/approx_colour.py: miniworld); SD's full decode costs 1-2 UNet steps at 512 px on a CPU
    preview: str = "approx"
    text_length: int | None = None     # T5 families: max_sequence_length, the T5 tokens the pipeline pads and cuts to

    @property
    def description(self) -> str:
        """The about line without the model's name in front (the header names the model itself), keyed where the
        about line is: "miniworld: a tiny model ..." -> "a tiny model ..."."""
        if getattr(self.about, "key", None) == NAMED:
            return self.about.params["about"]
        return self.about.split(": ", 1)[-1] if ": " in self.about else self.about


PRESETS: dict[str, Preset] = {
    "sd15": Preset("stable-diffusion-v1-5/stable-diffusion-v1-5", "sd1", 25, 7.5, 512, "euler_a",
                   say("presets.sd15")),
    "sd21-base": Preset("stabilityai/stable-diffusion-2-1-base", "sd2", 25, 7.5, 512, "euler_a",
                        say("presets.sd21_base")),
    "sd-turbo": Preset("stabilityai/sd-turbo", "sd2", 1, 0.0, 512, "euler_a",
                       say(NAMED, name="SD-Turbo", about=say("presets.sd_turbo")), max_steps=4, max_guidance=1.0),
    "sdxl": Preset("stabilityai/stable-diffusion-xl-base-1.0", "sdxl", 20, 5.0, 768, "euler",
                   say("presets.sdxl")),
    "sdxl-turbo": Preset("stabilityai/sdxl-turbo", "sdxl", 1, 0.0, 512, "euler_a",
                         say(NAMED, name="SDXL-Turbo", about=say("presets.sdxl_turbo")),
                         max_steps=4, max_guidance=1.0),
    "miniworld": Preset(str(MINIWORLD_DIR), "miniworld", 25, 5.0, 64, "ddim",
                        say(NAMED, name="miniworld", about=say("presets.miniworld")), preview="full"),
    "tiny-random": Preset("builtin", "tiny", 20, 7.5, 32, "ddim",
                          say(NAMED, name="tiny-random", about=say("presets.tiny_random"))),
    "tiny-random-xl": Preset("builtin-xl", "tiny-xl", 20, 5.0, 64, "euler",
                             say(NAMED, name="tiny-random-xl", about=say("presets.tiny_random_xl"))),
    "sd35-medium": Preset("stabilityai/stable-diffusion-3.5-medium", "sd3", 28, 4.5, 1024, "euler",
                          say(NAMED, name="SD3.5 Medium", about=say("presets.sd35_medium")), text_length=256),
    "flux-schnell": Preset("black-forest-labs/FLUX.1-schnell", "flux", 4, 0.0, 1024, "euler",
                           say(NAMED, name="FLUX.1 [schnell]", about=say("presets.flux_schnell")),
                           max_steps=4, max_guidance=0.0, text_length=256),
    "flux-dev": Preset("black-forest-labs/FLUX.1-dev", "flux", 28, 3.5, 1024, "euler",
                       say(NAMED, name="FLUX.1 [dev]", about=say("presets.flux_dev")), text_length=512),
    "tiny-random-sd3": Preset("builtin-sd3", "tiny-sd3", 10, 4.5, 64, "euler",
                              say(NAMED, name="tiny-random-sd3", about=say("presets.tiny_random_sd3")), text_length=32),
    "tiny-random-flux": Preset("builtin-flux", "tiny-flux", 10, 3.5, 64, "euler",
                               say(NAMED, name="tiny-random-flux", about=say("presets.tiny_random_flux")),
                               text_length=32),
    "miniworld-dit": Preset(str(MINIWORLD_DIT_DIR), "miniworld-dit", 25, 5.0, 64, "euler",
                            say(NAMED, name="miniworld-dit", about=say("presets.miniworld_dit")), preview="full"),
}
DEFAULT_MODEL = "sd15"

# Karras / exponential sigmas from the model's largest to its smallest sigma, as A1111 takes them (timesteps spaced
# over the whole range: diffusers' Euler/LMS/Heun/DPM2 take the ends of the sigmas at the spaced timesteps)
_FULL_RANGE = {"timestep_spacing": "linspace"}
# name -> (diffusers class name, extra config, the sampler name AUTOMATIC1111 writes)
SCHEDULERS: dict[str, tuple[str, dict, str]] = {
    "ddim": ("DDIMScheduler", {}, "DDIM"),
    "euler": ("EulerDiscreteScheduler", {}, "Euler"),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}, "Euler a"),
    "dpm++2m": ("DPMSolverMultistepScheduler", {}, "DPM++ 2M"),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}, "PLMS"),
    "lms": ("LMSDiscreteScheduler", {}, "LMS"),
    # A1111's samplers with Karras / exponential sigmas (explorer.generation.schedulers; README "Samplers"): the
    # sigmas spaced over the model's whole range as k-diffusion's get_sigmas_karras / get_sigmas_exponential
    "dpm++2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True, **_FULL_RANGE}, "DPM++ 2M"),
    "dpm++2m_exponential": ("DPMSolverMultistepScheduler", {"use_exponential_sigmas": True, **_FULL_RANGE},
                            "DPM++ 2M"),
    "dpm++2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}, "DPM++ 2M SDE"),
    "dpm++2m_sde_karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++",
                                                           "use_karras_sigmas": True, **_FULL_RANGE}, "DPM++ 2M SDE"),
    "dpm++2m_sde_exponential": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++",
                                                                "use_exponential_sigmas": True, **_FULL_RANGE},
                                "DPM++ 2M SDE"),
    "euler_karras": ("EulerDiscreteScheduler", {"use_karras_sigmas": True, **_FULL_RANGE}, "Euler"),
    "euler_exponential": ("EulerDiscreteScheduler", {"use_exponential_sigmas": True, **_FULL_RANGE}, "Euler"),
    "lms_karras": ("LMSDiscreteScheduler", {"use_karras_sigmas": True, **_FULL_RANGE}, "LMS"),
    "heun": ("HeunDiscreteScheduler", {}, "Heun"),
    "heun_karras": ("HeunDiscreteScheduler", {"use_karras_sigmas": True, **_FULL_RANGE}, "Heun"),
    "dpm2": ("KDPM2DiscreteScheduler", {}, "DPM2"),
    "dpm2_karras": ("KDPM2DiscreteScheduler", {"use_karras_sigmas": True, **_FULL_RANGE}, "DPM2"),
    "dpm2_a": ("KDPM2AncestralDiscreteScheduler", {}, "DPM2 a"),
    "dpm2_a_karras": ("KDPM2AncestralDiscreteScheduler", {"use_karras_sigmas": True, **_FULL_RANGE}, "DPM2 a"),
    "unipc": ("UniPCMultistepScheduler", {}, "UniPC"),
    "lcm": ("LCMScheduler", {}, "LCM"),
}
# flow-matching families: the same names, the flow-matching scheduler behind them (models.families.FlowMatchingFamily)
FLOW_SCHEDULERS: dict[str, tuple[str, dict, str]] = {
    "euler": ("FlowMatchEulerDiscreteScheduler", {}, "Euler"),
}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def sampler_name(scheduler: str) -> str:
    """The sampler name AUTOMATIC1111 writes for one of SCHEDULERS (the name itself when unknown)."""
    return SCHEDULERS.get(scheduler, (None, None, scheduler))[2]


def model_label(name: str) -> str:
    """The model as a saved PNG names it: a preset or hub id as it is, a local folder by its own name only (no
    absolute path of this machine leaves it in a file)."""
    if name in PRESETS:
        return name
    windows = "\\" in name or (len(name) > 1 and name[1] == ":")
    path = PureWindowsPath(name) if windows else Path(name).expanduser()
    if windows or path.is_absolute() or path.is_dir() or name.startswith(("./", "../", "~")):
        return path.name or name
    return name


def resolve_preset(name: str) -> Preset:
    """The preset for a name, or one made up for a hub id or local folder."""
    if not isinstance(name, str) or not name.strip():
        raise InputError("model", say("presets.model", presets=", ".join(PRESETS)), name)
    if name in PRESETS:
        return PRESETS[name]
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():                  # a model that cannot load (CLI: exit 3)
            raise ModelLoadError(say("loading.failed", name=repr(name), error=say("presets.no_model_index")))
        return replace(hub_preset(str(path), guess_family(path)), about=say("presets.local", name=path.name))
    if name.count("/") == 1 and " " not in name:
        return hub_preset(name, guess_hub_family(name))
    raise InputError("model", say("presets.model_or_folder", presets=", ".join(PRESETS)), name)


def hub_preset(name: str, family: str) -> Preset:
    """Defaults for a hub id of a family (turbo models: few steps, no guidance)."""
    turbo = "turbo" in name.lower()
    if family == "sd3":
        return Preset(name, family, 28, 4.5 if "3.5" in name else 7.0, 1024, "euler",
                      say("presets.hub_family", name=name, family="SD3"), text_length=256)
    if family == "flux":
        if "schnell" in name.lower():
            return Preset(name, family, 4, 0.0, 1024, "euler", say("presets.hub_family", name=name, family="FLUX.1"),
                          max_steps=4, max_guidance=0.0, text_length=256)
        return Preset(name, family, 28, 3.5, 1024, "euler", say("presets.hub_family", name=name, family="FLUX.1"),
                      text_length=512)
    if family == "sdxl":
        if turbo:
            return Preset(name, family, 1, 0.0, 512, "euler_a", say("presets.hub_sdxl_turbo", name=name),
                          max_steps=4, max_guidance=1.0)
        return Preset(name, family, 20, 5.0, 768, "euler", say("presets.hub_sdxl", name=name))
    if turbo:
        return Preset(name, family, 1, 0.0, 512, "euler_a", say("presets.hub_turbo", name=name),
                      max_steps=4, max_guidance=1.0)
    return Preset(name, family, 25, 7.5, 512, "euler_a", say("presets.hub", name=name))


def guess_hub_family(name: str) -> str:
    """A first guess from the id alone; loading reads the model's model_index.json and corrects it."""
    lowered = name.lower()
    if "flux" in lowered:
        return "flux"
    if "stable-diffusion-3" in lowered or "sd3" in lowered:
        return "sd3"
    if "xl" in lowered:
        return "sdxl"
    return "sd2" if "stable-diffusion-2" in lowered or "turbo" in lowered else "sd1"


def family_of_pipeline(class_name: str | None, text_hidden_size: int | None = None) -> str | None:
    """The family of a diffusers pipeline class name (model_index.json's _class_name), None when not one of ours."""
    if not class_name:
        return None
    if class_name == "StableDiffusion3Pipeline":
        return "sd3"
    if class_name == "FluxPipeline":
        return "flux"
    if "XL" in class_name:
        return "sdxl"
    if class_name.startswith("StableDiffusion") and "3" not in class_name:
        return "sd2" if text_hidden_size == 1024 else "sd1"
    return None


def guess_family(folder: Path) -> str:
    """From the folder's files: model_index.json's pipeline class, and the text encoder's width (sd1 vs sd2)."""
    try:
        index = json.loads((folder / "model_index.json").read_text())
    except (OSError, json.JSONDecodeError):
        index = {}
    try:
        config = json.loads((folder / "text_encoder" / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        config = {}
    found = family_of_pipeline(index.get("_class_name"), config.get("hidden_size"))
    if found is not None:
        return found
    return "sd2" if config.get("hidden_size") == 1024 else "sd1"
