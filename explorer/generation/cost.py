"""What an image costs before it runs: seconds of its denoising steps and its final decode, per model family.

The old budget counted width x height x steps, but a step's cost is not linear in the pixels: self-attention
over the latent's h·w cells grows with their square, and at 1024 px it is nearly all of tiny-random's step
(issue 33: 1024 x 1024 x 12 passed the pixel budget, one step took 584 s). Here one guided step (the UNet on
a batch of 2) at P megapixels costs fixed + linear·P + quadratic·P² seconds, the decode likewise, each curve
fitted per family to times measured on this project's 2-core CPU (the miniatures by bench/bench_step_cost.py,
SD 1.5 and SDXL from the README's real-size figures; Performance). check_budget (generation.recipe) refuses an image whose estimate exceeds the device's
time limit of one request (ExplorerConfig.request_seconds), so nothing admitted runs longer than that.
"""
from __future__ import annotations

from dataclasses import dataclass

from explorer.models.families import family_adapter

ROWS_GUIDED = 2                       # the curves are measured with guidance: the UNet on [negative, positive]
PREVIEW_FACTOR = {"approx": 1.0, "live": 1.25, "taesd": 1.25, "full": 1.0}   # live and taesd: README, Performance


@dataclass(frozen=True)
class Curve:
    """Seconds at P megapixels: fixed + linear·P + quadratic·P²."""

    fixed: float                      # s
    linear: float                     # s per megapixel
    quadratic: float                  # s per megapixel² (self-attention)

    def __call__(self, megapixels: float) -> float:
        return self.fixed + self.linear * megapixels + self.quadratic * megapixels * megapixels


@dataclass(frozen=True)
class FamilyCost:
    step: Curve                       # one guided step of one image (the UNet on a batch of 2)
    decode: Curve                     # the VAE on one image's final latent


# Measured on this project's 2-core CPU by `python bench/bench_step_cost.py --model NAME --sizes ...` (float32):
# a step as (3 steps - 1 step) / 2, in CPU seconds of one thread, i.e. the wall time on an idle core (the cores
# were shared with six test suites: wall time measured their load, 10-20x), fitted by non-negative least squares
# on relative error. The server's two threads on an idle machine are faster; a loaded one is slower.
CPU = {
    # tiny-random, sizes 64, 96, 128, 192, 256: 0.090, 0.242, 0.495, 2.007, 4.832 s a step; decode 0.066 to 2.450 s
    # (its VAE halves: at 256 px the latent has 128 x 128 cells, and attention over them is most of the step)
    "tiny": FamilyCost(Curve(0.007449, 16.42, 912.2), Curve(0.008725, 12.65, 355.7)),
    # tiny-random-xl, sizes 64, 96, 128, 192: 0.166, 0.361, 0.710, 2.657 s a step; decode 0.063 to 1.029 s (256 px
    # did not finish within the bench's 15 minutes of wall time on the loaded machine)
    "tiny-xl": FamilyCost(Curve(0.07374, 16.98, 1418.0), Curve(0.0, 13.83, 388.2)),
    # miniworld, sizes 64, 96, 128, 192, 256: 0.076, 0.105, 0.164, 0.369, 0.548 s a step; decode 0.041 to 0.325 s
    "miniworld": FamilyCost(Curve(0.04189, 7.576, 7.126), Curve(0.02163, 5.122, 0.0)),
    # SD 1.5 and SDXL at real size: not calibrated by bench_step_cost (sd15's run did not finish on the loaded
    # machine); from the README's wall-time figures measured here (bench_real_size, bench_sdxl_size; published
    # configs, random weights, 2 threads): SD 1.5 at 512 px 26.4 s a guided step (encode and decode included),
    # split 75% linear / 25% attention (a rough FLOP count of its UNet at a 64 x 64 latent); its VAE (SDXL's is the same
    # architecture) 90 s at 768 px. SDXL 512 px ~33 s a step, 768 px ~105 s: the curve through both points.
    "sd1": FamilyCost(Curve(0.0, 75.6, 96.0), Curve(0.0, 152.6, 0.0)),
    "sdxl": FamilyCost(Curve(0.0, 84.3, 158.7), Curve(0.0, 152.6, 0.0)),
}
CPU["sd2"] = CPU["sd1"]               # SD 2.x: SD 1.5's UNet shape with a wider text encoder (the same step)
# SD3.5 and FLUX.1: not measured (a real-size step did not fit this machine's time): SDXL's step curve scaled by the
# transformer's parameters against SDXL's UNet (2.24 B and 11.9 B against 2.6 B, bench/bench_flow_size.py), its
# decode for their 16-channel VAE of the same decoder shape. Rough, and far from SD 1.5's, which they fell back to.
SD3_SCALE, FLUX_SCALE = 2.24 / 2.6, 11.9 / 2.6
CPU["sd3"] = FamilyCost(Curve(0.0, 84.3 * SD3_SCALE, 158.7 * SD3_SCALE), CPU["sdxl"].decode)
CPU["flux"] = FamilyCost(Curve(0.0, 84.3 * FLUX_SCALE, 158.7 * FLUX_SCALE), CPU["sdxl"].decode)

# Not measured here (no accelerator on this machine): public float16 figures of data-centre GPUs (SD 1.5 at 512 px
# ~25 guided steps/s, SDXL at 1024 px ~6-8 guided steps/s, their VAE decode well under 1 s at 1024 px), doubled.
GPU = {
    "tiny": FamilyCost(Curve(0.02, 0.0, 0.05), Curve(0.02, 0.0, 0.05)),
    "tiny-xl": FamilyCost(Curve(0.02, 0.0, 0.05), Curve(0.02, 0.0, 0.05)),
    "miniworld": FamilyCost(Curve(0.02, 0.0, 0.05), Curve(0.02, 0.0, 0.05)),
    "sd1": FamilyCost(Curve(0.02, 0.25, 0.05), Curve(0.02, 0.3, 0.2)),
    "sdxl": FamilyCost(Curve(0.03, 0.25, 0.05), Curve(0.02, 0.3, 0.2)),
}
GPU["sd2"] = GPU["sd1"]
GPU["sd3"] = GPU["sdxl"]
GPU["flux"] = FamilyCost(Curve(0.03, 0.25 * FLUX_SCALE, 0.05 * FLUX_SCALE), GPU["sdxl"].decode)


@dataclass(frozen=True)
class Estimate:
    step: float                       # seconds of one step of this image (its guidance, its previews)
    decode: float                     # seconds of the final decode
    steps: int

    @property
    def total(self) -> float:
        return self.step * self.steps + self.decode


def family_cost(family: str, device_type: str) -> FamilyCost:
    """The curves of a family on a device (a family not measured is costed as the real-size SD 1.5 or SDXL)."""
    table = CPU if device_type == "cpu" else GPU
    if family in table:
        return table[family]
    return table["sdxl" if "xl" in family else "sd1"]


def estimate(model, recipe) -> Estimate:
    """Seconds the recipe's image will take on the model's device: its steps (with guidance, AND's extra prompts
    and its step previews) and its final decode."""
    cost = family_cost(model.preset.family, model.device.type)
    megapixels = recipe.width * recipe.height / 1e6
    guided = family_adapter(model.preset.family).guided(recipe.guidance)      # FLUX: one pass a step, any guidance
    rows = 2 if guided else 1
    if recipe.blend is not None and recipe.blend.operator == "and":
        rows = 3                                       # AND: the unconditional row and one per prompt
    conv_and_attention = cost.step(megapixels) - cost.step.fixed
    step = cost.step.fixed + conv_and_attention * rows / ROWS_GUIDED
    decode = cost.decode(megapixels)
    if recipe.preview == "full":                       # x_t and x0 through the VAE at every step
        step += 2 * decode
    step *= PREVIEW_FACTOR.get(recipe.preview, 1.0)
    return Estimate(step, decode, recipe.steps)
