"""The samplers A1111 PNGs carry: each of the explorer's schedulers written and read back under A1111's names, and
the Karras / exponential sigmas equal to k-diffusion's (reimplemented here from k_diffusion/sampling.py)."""
from __future__ import annotations

import math

import pytest
import torch

from explorer.generation.schedulers import (A1111_AUTOMATIC, a1111_names, draws_step_noise, from_a1111,
                                            make_scheduler, sigma_schedule)
from explorer.models.presets import SCHEDULERS

# Stable Diffusion 1.x's noise schedule (its scheduler_config.json): what A1111's model_wrap.sigmas come from
SD_CONFIG = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
             "steps_offset": 1, "timestep_spacing": "leading", "prediction_type": "epsilon"}


def get_sigmas_karras(n, sigma_min, sigma_max, rho=7.0):
    """k_diffusion.sampling.get_sigmas_karras (Karras et al. 2022), as A1111 calls it."""
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    min_inv_rho, max_inv_rho = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def get_sigmas_exponential(n, sigma_min, sigma_max):
    """k_diffusion.sampling.get_sigmas_exponential."""
    sigmas = torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=torch.float64).exp()
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def model_sigmas():
    """A1111's model_wrap.sigmas for SD_CONFIG: ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 (k-diffusion CompVisDenoiser)."""
    betas = torch.linspace(SD_CONFIG["beta_start"] ** 0.5, SD_CONFIG["beta_end"] ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    return ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_every_scheduler_reads_back_from_the_names_a1111_writes(name):
    sampler, schedule = a1111_names(name)
    assert from_a1111(sampler, schedule) == name
    # "Automatic" is written only where it means the same schedule in A1111 >= 1.9
    if schedule == "Automatic":
        assert sigma_schedule(name) == A1111_AUTOMATIC.get(sampler, "Uniform") or sampler in ("DDIM", "PLMS", "UniPC",
                                                                                                 "LCM")


def test_dpm_2m_without_karras_is_no_longer_written_as_automatic():
    assert a1111_names("dpm++2m") == ("DPM++ 2M", "Uniform")          # A1111's Automatic would be Karras
    assert a1111_names("dpm++2m_karras") == ("DPM++ 2M", "Karras")
    assert a1111_names("euler") == ("Euler", "Automatic") and a1111_names("ddim") == ("DDIM", "Automatic")
    assert from_a1111("DPM++ 2M", "Automatic") == from_a1111("DPM++ 2M", None) == "dpm++2m_karras"
    assert from_a1111("Euler a", "Karras") is None                     # diffusers' Euler a has no Karras sigmas


@pytest.mark.parametrize("name", [n for n in SCHEDULERS if sigma_schedule(n) != "Uniform"
                                  and SCHEDULERS[n][0] != "KDPM2DiscreteScheduler"
                                  and SCHEDULERS[n][0] != "KDPM2AncestralDiscreteScheduler"])
def test_karras_and_exponential_sigmas_are_k_diffusions(name):
    steps, sigmas = 12, model_sigmas()
    reference = (get_sigmas_karras if sigma_schedule(name) == "Karras" else get_sigmas_exponential)(
        steps, sigmas[0].item(), sigmas[-1].item())
    scheduler = make_scheduler(name, SD_CONFIG)
    scheduler.set_timesteps(steps)
    ours = torch.as_tensor(scheduler.sigmas, dtype=torch.float64)
    ours = torch.unique_consecutive(ours)                              # Heun repeats each sigma for its second pass
    assert torch.allclose(ours, reference, rtol=1e-4), (ours[:3], reference[:3])


def test_which_schedulers_draw_noise_at_every_step():
    assert draws_step_noise("euler_a") and draws_step_noise("dpm2_a") and draws_step_noise("dpm++2m_sde_karras")
    assert not draws_step_noise("euler") and not draws_step_noise("dpm++2m_karras") and not draws_step_noise("ddim")
