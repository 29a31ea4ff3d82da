"""A fresh scheduler per call, swapped into the shared pipeline for exactly that call; and the samplers' A1111 names.

diffusers pipelines are not thread-safe: the scheduler's step index is shared state (diffusers
#3672, #5749). Every run therefore makes its own scheduler from the model's noise schedule and
holds the model's lock while it is in the pipeline.

AUTOMATIC1111 (>= 1.9) names a sampler and, apart, its "Schedule type" (modules/sd_samplers_kdiffusion.py,
modules/sd_schedulers.py). "Automatic" means the sampler's own default there: Karras for DPM++ 2M, DPM++ SDE,
DPM++ 2S a, DPM2 and DPM2 a; exponential for DPM++ 2M SDE and DPM++ 3M SDE; the model's uniform spacing for the
others. `a1111_names` writes the explorer's schedulers under those names and `from_a1111` reads them back.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from explorer.checks import check_choice
from explorer.models.presets import FLOW_SCHEDULERS, SCHEDULERS

AUTOMATIC = "Automatic"
UNIFORM = "Uniform"            # the model's own timestep spacing (k-diffusion's get_sigmas), no Karras/exponential
KARRAS = "Karras"
EXPONENTIAL = "Exponential"
# A1111's samplers whose "Automatic" schedule is not the uniform one (samplers_k_diffusion, option 'scheduler')
A1111_AUTOMATIC = {"DPM++ 2M": KARRAS, "DPM++ SDE": KARRAS, "DPM++ 2S a": KARRAS, "DPM2": KARRAS, "DPM2 a": KARRAS,
                   "Restart": KARRAS, "DPM++ 2M SDE": EXPONENTIAL, "DPM++ 2M SDE Heun": EXPONENTIAL,
                   "DPM++ 3M SDE": EXPONENTIAL}
# samplers that step through the model's timesteps (modules/sd_samplers_timesteps.py): A1111 ignores their schedule
TIMESTEP_SAMPLERS = ("DDIM", "PLMS", "UniPC", "LCM")
# diffusers schedulers that draw fresh noise at every step from the run's generator
STEP_NOISE_CLASSES = ("EulerAncestralDiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "LCMScheduler")


def make_scheduler(name: str, base_config: dict, flow: bool = False):
    """A fresh scheduler of the named kind, configured from the model's own noise schedule (`flow`: a flow-matching
    model's, whose names stand for FLOW_SCHEDULERS)."""
    import diffusers

    table = FLOW_SCHEDULERS if flow else SCHEDULERS
    check_choice("scheduler", name, list(table))
    class_name, extra, _ = table[name]
    return getattr(diffusers, class_name).from_config({**base_config, **extra})


def sigma_schedule(name: str) -> str:
    """Karras, Exponential or Uniform: how one of SCHEDULERS spaces its noise levels."""
    extra = SCHEDULERS[name][1]
    if extra.get("use_karras_sigmas"):
        return KARRAS
    if extra.get("use_exponential_sigmas"):
        return EXPONENTIAL
    return UNIFORM


def a1111_names(name: str) -> tuple[str, str]:
    """(Sampler, Schedule type) as A1111 >= 1.9 writes them for one of SCHEDULERS: Karras and Exponential by name,
    the uniform spacing as "Automatic" where it is the sampler's own default and as "Uniform" where it is not (DPM++
    2M: Automatic would mean Karras); timestep samplers (DDIM, PLMS, UniPC, LCM) "Automatic"."""
    sampler, schedule = SCHEDULERS[name][2], sigma_schedule(name)
    if sampler in TIMESTEP_SAMPLERS or schedule == A1111_AUTOMATIC.get(sampler, UNIFORM):
        return sampler, AUTOMATIC if schedule == UNIFORM else schedule
    return sampler, schedule


def resolve_schedule(sampler: str, schedule: str | None) -> str:
    """The schedule an A1111 text means: a missing or "Automatic" one is the sampler's own default."""
    if schedule in (None, AUTOMATIC):
        return A1111_AUTOMATIC.get(sampler, UNIFORM)
    return schedule


def from_a1111(sampler: str, schedule: str | None) -> str | None:
    """The explorer's scheduler for an A1111 sampler and schedule type; None when it has none for the pair."""
    wanted = resolve_schedule(sampler, schedule)
    for name, (_cls, _extra, a1111) in SCHEDULERS.items():
        if a1111 == sampler and (sampler in TIMESTEP_SAMPLERS or sigma_schedule(name) == wanted):
            return name
    return None


def a1111_samplers() -> list[str]:
    """A1111's names of the samplers the explorer has, in SCHEDULERS' order."""
    return list(dict.fromkeys(a1111 for _cls, _extra, a1111 in SCHEDULERS.values()))


def draws_step_noise(name: str) -> bool:
    """True when the scheduler adds fresh noise at each step (ancestral and SDE samplers, LCM)."""
    class_name, extra, _ = SCHEDULERS[name]
    return class_name in STEP_NOISE_CLASSES or str(extra.get("algorithm_type", "")).startswith("sde")


@contextmanager
def scheduler_in_pipeline(model, name: str) -> Iterator[object]:
    """Hold the model's lock, put a fresh `name` scheduler into its pipeline, restore the original after."""
    pipe = model.pipe
    with model.lock:
        scheduler = make_scheduler(name, model.base_scheduler_config, model.adapter.flow)
        original, pipe.scheduler = pipe.scheduler, scheduler
        try:
            yield scheduler
        finally:
            pipe.scheduler = original
