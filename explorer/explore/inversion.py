"""A picture into the latent space: DDIM inversion, null-text inversion, and what the inverted noise says.

DDIM inversion (Song et al., "Denoising Diffusion Implicit Models", ICLR 2021, eq. 13 read backwards; Dhariwal &
Nichol 2021, eq. 55) runs the deterministic DDIM update with the timesteps reversed: the noise the model predicts
at each level carries the picture's latent one level up, to an initial noise x_T from which the ordinary DDIM
sampler draws the picture again. The step is the one of google/prompt-to-prompt's `null_text_w_ptp.ipynb`
(`next_step`; the model is asked at the *higher* timestep t with the lower-noise latent) on the forward sampler's
own timesteps, so the regeneration (explorer.generation.generate with the inverted noise as its initial latent)
walks back exactly the levels the inversion walked up. diffusers' `DDIMInverseScheduler` is the same update.

Under classifier-free guidance the backward steps no longer retrace the forward ones (Mokady et al., "Null-text
Inversion for Editing Real Images using Guided Diffusion Models", CVPR 2023, sec. 3): the picture drifts. Null-text
inversion keeps the guided regeneration on the unguided inversion's path by optimising the unconditional embedding
of every step (their Algorithm 1: pivotal inversion at guidance 1, then per step Adam on ||z*_{t-1} - z_{t-1}||^2).
The optimised embeddings are a scheduled Conditioning (one entry per step, as A1111's prompt editing switches it),
so the regeneration still goes through the one generate().

    inv = invert(model, picture, prompt="a red circle", steps=25, guidance=1.0)       # inv.psnr, inv.noise
    edited = edit(model, inv, "a blue circle")                                          # same noise, new prompt
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch
from PIL import Image
from scipy.special import ndtr

from explorer.checks import check_choice, check_float, check_int, check_text
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.explore.walks import Frame, Walk, schedule_positions
from explorer.generation.conditioning import conditioning_for
from explorer.generation.generate import Generation, generate
from explorer.generation.noise import seed_noise
from explorer.generation.recipe import (MAX_PROMPT_CHARS, WALK_METHODS, Recipe, WalkFrame, check_budget,
                                       check_fits_model, validate)
from explorer.generation.schedulers import make_scheduler
from explorer.generation.watch import StepPreview
from explorer.messages import say
from explorer.models import vae
from explorer.models.conditioning import Conditioning
from explorer.models.previews import PreviewDecoder
from explorer.text.tokens import check_prompt_length
from explorer.text.vectors import slerp

METHODS = ("ddim", "null-text")       # plain DDIM inversion; Mokady et al.'s null-text optimisation on top of it
SCHEDULER = "ddim"                    # the deterministic sampler the inversion reverses (and the regeneration uses)
NULL_TEXT_ITERATIONS = 3              # Adam steps per denoising step at most (Mokady et al.: N = 10; on
                                      # miniworld 3 gives most of 10's gain at 9x a generation, not 23x)
NULL_TEXT_LR = 1e-2                   # Adam's learning rate, decayed linearly over the steps as in their notebook
NULL_TEXT_EPSILON = 1e-5              # early stop once the step's loss is below epsilon + i * 2e-5 (their notebook)
READBACK_CONCEPTS = 4                 # concepts (the best of each category) the CLIP vision model reads back into a prompt when none is given


# ----------------------------------------------------------------------------------------------
# 1. pure helpers: the DDIM step both ways, PSNR, the noise's statistics
def ddim_step(eps: torch.Tensor, x_t: torch.Tensor, alpha_t: float, alpha_s: float) -> torch.Tensor:
    """x_s = sqrt(a_s) x0 + sqrt(1 - a_s) eps, x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t) (Song et al. 2021, eq. 12,
    eta = 0). Going down (a_s > a_t) it denoises; going up (a_s < a_t) it is the inversion step."""
    x0 = (x_t - math.sqrt(1 - alpha_t) * eps) / math.sqrt(alpha_t)
    return math.sqrt(alpha_s) * x0 + math.sqrt(1 - alpha_s) * eps


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (H, W, 3): 10 log10(255^2 / MSE); inf when equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


@dataclass(frozen=True)
class NoiseStats:
    """How much a noise tensor looks like a draw from N(0, I), the prior every seed's noise is drawn from."""

    mean: float                   # of all entries (0 for the prior)
    std: float                    # (1 for the prior)
    skew: float                   # third standardised moment (0)
    excess_kurtosis: float        # fourth standardised moment - 3 (0)
    ks: float                     # Kolmogorov-Smirnov distance of the entries to N(0, 1) (about 1/sqrt(n) for a draw)
    neighbour_corr: float         # correlation of horizontally adjacent entries (0: white noise; a picture's trace > 0)
    nll_per_dim: float            # -log p(z) / d under N(0, I), in nats (0.5 log(2 pi) + 0.5 = 1.419 expected)
    chi2_z: float                 # (||z||^2 - d) / sqrt(2 d): standard deviations from the prior's typical shell
    d: int                        # entries

    def to_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in self.__dict__.items()}

    @property
    def typical(self) -> bool:
        """Whether the noise lies on the prior's typical shell and is white: |chi2_z| < 3 and |corr| < 0.1."""
        return abs(self.chi2_z) < 3.0 and abs(self.neighbour_corr) < 0.1


def noise_stats(noise: torch.Tensor) -> NoiseStats:
    """Mean, std, shape of the distribution, whiteness and likelihood of a noise (B, C, h, w) under N(0, I)."""
    z = noise.detach().double().cpu()
    x = z.flatten().numpy()
    d = x.size
    mean, std = float(x.mean()), float(x.std())
    centred = (x - mean) / (std or 1.0)
    ordered = np.sort(x)
    cdf = ndtr(ordered)                                                             # Phi(x)
    ks = float(max(np.max(np.arange(1, d + 1) / d - cdf), np.max(cdf - np.arange(d) / d)))
    left, right = z[..., :, :-1].flatten().numpy(), z[..., :, 1:].flatten().numpy()
    corr = float(np.corrcoef(left, right)[0, 1]) if left.size > 1 else 0.0
    squared = float((x ** 2).sum())
    return NoiseStats(mean, std, float((centred ** 3).mean()), float((centred ** 4).mean() - 3.0), ks, corr,
                      0.5 * math.log(2 * math.pi) + 0.5 * squared / d, (squared - d) / math.sqrt(2 * d), d)


# ----------------------------------------------------------------------------------------------
# 2. the picture in: checked, resized to the model's size (and said so), encoded with the VAE
def prepare_picture(image, width: int, height: int) -> tuple[Image.Image, str | None]:
    """An RGB picture at width x height, and a note when it had another size (resized, never refused for that)."""
    if not isinstance(image, Image.Image):
        raise InputError("image", say("inversion.allowed.picture"), type(image).__name__)
    picture = image.convert("RGB")
    if picture.size == (width, height):
        return picture, None
    note = say("inversion.note.resized", w=picture.width, h=picture.height, width=width, height=height)
    return picture.resize((width, height), Image.Resampling.LANCZOS), note


def encode_picture(model, picture: Image.Image) -> torch.Tensor:
    """The VAE's latent z0 (1, C, h, w) of an RGB picture, scaled as the UNet was trained (models.vae.encode)."""
    pixels = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
    return vae.encode(model.pipe, pixels).to(model.device, model.dtype)


def read_back_prompt(vision, picture: Image.Image, vocabulary, k: int = READBACK_CONCEPTS) -> str:
    """The prompt CLIP reads in a picture: the best entry of each of the vocabulary's categories (colour, shape,
    place ... where it has them), the k best of those, best first, joined by ", " (e.g. "purple, circle, top")."""
    if vision is None or vocabulary is None or not len(vocabulary):
        raise InputError("prompt", say("inversion.allowed.prompt_or_vision"), "")
    entries, categories = list(vocabulary.entries), list(vocabulary.categories)
    scores = vision.similarity([picture], entries)[0]                                # (V,)
    best: dict[str, int] = {}
    for i in np.argsort(-scores):
        best.setdefault(categories[i], int(i))
    chosen = sorted(best.values(), key=lambda i: -scores[i])[:k]
    return ", ".join(entries[i] for i in chosen)


# ----------------------------------------------------------------------------------------------
# 3. the way back: the DDIM update with the timesteps reversed, and the guided noise prediction
def step_levels(model, steps: int) -> list[tuple[int, float, float]]:
    """(t, a_t, a_s) of the forward DDIM sampler's steps, from the first (noisiest) to the last: the sampler goes
    from level t to the lower-noise level s = t - 1000 // steps (the final alpha below 0), as DDIMScheduler.step."""
    scheduler = make_scheduler(SCHEDULER, model.base_scheduler_config)
    scheduler.set_timesteps(steps)
    alphas = scheduler.alphas_cumprod
    ratio = scheduler.config.num_train_timesteps // steps
    levels = []
    for t in scheduler.timesteps.tolist():
        s = t - ratio
        levels.append((int(t), float(alphas[t]), float(alphas[s]) if s >= 0 else float(scheduler.final_alpha_cumprod)))
    return levels


class NoisePredictor:
    """eps(x, t) of the model's denoiser under a conditioning, with classifier-free guidance as the pipeline does it
    (one row when unguided, negative and positive rows when guided); eps from v-prediction models converted."""

    def __init__(self, model, conditioning: Conditioning, height: int, width: int):
        self.model, self.pipe = model, model.pipe
        self.height, self.width = height, width
        self.prediction = model.base_scheduler_config.get("prediction_type", "epsilon")
        self.alphas = make_scheduler(SCHEDULER, model.base_scheduler_config).alphas_cumprod
        self.set(conditioning)

    def set(self, conditioning: Conditioning) -> None:
        self.conditioning = conditioning
        self.both = self.model.adapter.unet_kwargs(self.pipe, conditioning, self.height, self.width, 2)
        self.one = {"added_cond_kwargs": {k: v[v.shape[0] // 2:] for k, v in self.both["added_cond_kwargs"].items()}
                    } if self.both else {}

    def unet(self, x: torch.Tensor, t: int, embeds: torch.Tensor, extra: dict) -> torch.Tensor:
        out = self.pipe.unet(torch.cat([x] * embeds.shape[0]), t, encoder_hidden_states=embeds, return_dict=False,
                             **extra)[0]
        if self.prediction == "v_prediction":                 # eps = sqrt(a) v + sqrt(1 - a) x_t (Salimans & Ho 2022)
            a = float(self.alphas[t])
            out = math.sqrt(a) * out + math.sqrt(1 - a) * torch.cat([x] * embeds.shape[0])
        return out

    def __call__(self, x: torch.Tensor, t: int, guidance: float, negative: torch.Tensor | None = None) -> torch.Tensor:
        """eps_u + g (eps_c - eps_u); `negative` overrides the unconditional sequence (null-text inversion)."""
        c = self.conditioning
        if not self.model.adapter.guided(guidance):
            return self.unet(x, t, c.prompt_embeds, self.one)
        negative = c.negative_prompt_embeds if negative is None else negative
        eps = self.unet(x, t, torch.cat([negative, c.prompt_embeds]), self.both)
        return eps[:1] + guidance * (eps[1:] - eps[:1])


@dataclass
class Inversion:
    """A picture placed in the model's latent space: its initial noise and how well it comes back."""

    original: Image.Image                 # the picture at the model's size
    recipe: Recipe                        # prompt, steps, guidance, size of the inversion and its regeneration
    prompt_source: str                    # "given" or "read_back" (CLIP vision over the model's concepts)
    method: str                           # one of METHODS
    noise: torch.Tensor                   # (1, C, h, w) the inverted initial latent x_T
    latents: list[torch.Tensor]           # z0, z_1, ... z_T: the way up, lowest noise first
    conditioning: Conditioning            # what the regeneration runs under (null-text: one entry per step)
    way_back: list[StepPreview] = field(default_factory=list)   # x_t / x0 pictures of the inversion, lowest first
    reconstruction: Image.Image | None = None
    regeneration: Generation | None = None
    psnr: float | None = None             # reconstruction against the original, dB
    vae_psnr: float | None = None         # the VAE's own round trip (decode(encode(x))) against the original: the ceiling
    vae_image: np.ndarray | None = None   # that round trip (H, W, 3) uint8
    inversion_psnr: float | None = None   # the reconstruction against that round trip: what the inversion alone loses
    stats: NoiseStats | None = None       # the inverted noise's
    seed_stats: NoiseStats | None = None  # a real seed's noise of the same shape, for comparison
    notes: list[str] = field(default_factory=list)      # resized, read-back prompt, ...
    null_embeds: list[torch.Tensor] = field(default_factory=list)   # null-text: the optimised negative per step
    final_loss: float | None = None       # null-text: the last step's loss
    null_text_steps: int = 0              # null-text: Adam steps taken in all (early stop: fewer)

    def summary(self) -> dict:
        """The figures as JSON (invert.json, the API)."""
        finite = (lambda v: None if v is None or not math.isfinite(v) else round(v, 3))
        return {"prompt": self.recipe.prompt, "prompt_source": self.prompt_source, "method": self.method,
                "steps": self.recipe.steps, "guidance": self.recipe.guidance, "width": self.recipe.width,
                "height": self.recipe.height, "psnr": finite(self.psnr), "vae_psnr": finite(self.vae_psnr),
                "psnr_vs_vae_round_trip": finite(self.inversion_psnr),
                "noise": self.stats.to_dict() if self.stats else None,
                "seed_noise": self.seed_stats.to_dict() if self.seed_stats else None,
                "typical": bool(self.stats.typical) if self.stats else None,
                "null_text_loss": self.final_loss, "null_text_steps": self.null_text_steps,
                "notes": [str(n) for n in self.notes]}


def check_inversion(model, prompt: str | None, steps: int, guidance: float, method: str,
                    config: ExplorerConfig, iterations: int = NULL_TEXT_ITERATIONS) -> None:
    """Refuse what cannot be inverted here, naming the field."""
    if model.adapter.flow:
        raise InputError("model", say("inversion.allowed.family"), model.family)
    check_choice("method", method, METHODS)
    check_int("steps", steps, 1, config.max_steps)
    check_float("guidance", guidance, 0.0, config.max_guidance)
    check_int("iterations", iterations, 1, 100)
    if prompt is not None:
        check_text("prompt", prompt, allow_empty=True, max_chars=MAX_PROMPT_CHARS, noun="prompt")
        if prompt.strip():
            check_prompt_length(model, prompt, "prompt")


@torch.no_grad()
def invert_latent(predict: NoisePredictor, z0: torch.Tensor, levels: list[tuple[int, float, float]],
                  guidance: float, watch: Callable[[int, int, torch.Tensor, torch.Tensor], None] | None = None,
                  refine: int = 0) -> list[torch.Tensor]:
    """z0 -> [z0, z_1, ..., z_T]: the DDIM update with the timesteps reversed (levels as step_levels gives them).

    The plain step asks the model at level t with the lower-noise latent x_s (the one it has); the sampler will ask
    it with x_t. `refine` > 0 closes that gap by fixed-point iteration (Pan et al., "Effective Real Image Editing
    with Accelerated Iterative Diffusion Inversion", ICCV 2023): eps is asked again at the latent just found, and
    the step from x_s redone with it, `refine` times (one UNet call each)."""
    latents = [z0]
    x = z0
    for i, (t, alpha_t, alpha_s) in enumerate(reversed(levels)):
        eps = predict(x, t, guidance)
        up = ddim_step(eps, x, alpha_s, alpha_t)                  # from level s up to level t
        for _ in range(refine):
            eps = predict(up, t, guidance)
            up = ddim_step(eps, x, alpha_s, alpha_t)
        x = up
        latents.append(x)
        if watch is not None:
            watch(i, t, x, (x - math.sqrt(1 - alpha_t) * eps) / math.sqrt(alpha_t))
    return latents


def null_text_optimise(predict: NoisePredictor, pivots: list[torch.Tensor], levels: list[tuple[int, float, float]],
                       guidance: float, iterations: int = NULL_TEXT_ITERATIONS
                       ) -> tuple[list[torch.Tensor], float, int]:
    """Mokady et al. 2023, Algorithm 1: per step (noisiest first) the unconditional embedding that makes the guided
    DDIM step from the current latent land on the pivot (the unguided inversion's latent one level lower); at most
    `iterations` Adam steps per step, fewer where the loss falls below their bound. Returns the embeddings, the
    last step's loss and the Adam steps taken in all (each a UNet forward and backward pass)."""
    c = predict.conditioning
    null = c.negative_prompt_embeds.detach().clone()
    x = pivots[-1]
    embeds, loss_value, taken = [], 0.0, 0
    total = len(levels)
    for i, (t, alpha_t, alpha_s) in enumerate(levels):
        target = pivots[total - i - 1]
        null = null.detach().clone().requires_grad_(True)
        optimiser = torch.optim.Adam([null], lr=NULL_TEXT_LR * (1.0 - i / 100.0))
        with torch.no_grad():
            eps_c = predict.unet(x, t, c.prompt_embeds, predict.one)
        for j in range(iterations):
            with torch.enable_grad():
                eps_u = predict.unet(x, t, null, predict.one)
                step = ddim_step(eps_u + guidance * (eps_c - eps_u), x, alpha_t, alpha_s)
                loss = torch.nn.functional.mse_loss(step, target)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            loss_value = float(loss.detach())
            taken += 1
            if loss_value < NULL_TEXT_EPSILON + i * 2e-5:
                break
        null = null.detach()
        embeds.append(null)
        with torch.no_grad():
            x = ddim_step(predict(x, t, guidance, negative=null), x, alpha_t, alpha_s)
    return embeds, loss_value, taken


def per_step(conditioning: Conditioning, nulls: list[torch.Tensor]) -> Conditioning:
    """A scheduled Conditioning whose negative half is nulls[i] at step i (generation.editing switches it)."""
    entries = tuple((i, replace(conditioning, negative_prompt_embeds=n, schedule=())) for i, n in enumerate(nulls))
    return replace(entries[0][1], schedule=entries)


def invert(model, image: Image.Image, *, prompt: str | None = None, steps: int | None = None,
           guidance: float | None = None, method: str = "ddim", negative_prompt: str = "", vision=None,
           vocabulary=None, regenerate: bool = True, watch: bool = True,
           preview: str | None = None, iterations: int = NULL_TEXT_ITERATIONS, refine: int = 0,
           config: ExplorerConfig | None = None) -> Inversion:
    """Invert a picture to the initial noise the model draws it from, and draw it again from that noise.

    `prompt` None or blank: the CLIP vision model (`vision`) reads the nearest entries of a concepts.vocabularies
    Vocabulary back as the prompt. `steps`, `guidance`: the model's defaults when None. `method` "null-text" adds Mokady et al.'s
    per-step optimisation of the unconditional embedding (only where guidance > 1: otherwise it changes nothing),
    `iterations` Adam steps per step at most. `refine`: fixed-point iterations per inverted step (invert_latent; each
    one more UNet call). `preview`: how the way back is pictured (default: the model's).
    """
    config = config or ExplorerConfig()
    preset = model.preset
    steps = preset.steps if steps is None else steps
    preview = preview or preset.preview
    guidance = preset.guidance if guidance is None else guidance
    # 1. validate; the picture at the model's size (resized and said so)
    check_inversion(model, prompt, steps, guidance, method, config, iterations)
    check_int("refine", refine, 0, 10)
    width = height = preset.size
    picture, resized = prepare_picture(image, width, height)
    notes = [resized] if resized else []
    source = "given"
    if prompt is None or not prompt.strip():
        prompt, source = read_back_prompt(vision, picture, vocabulary), "read_back"
        notes.append(say("inversion.note.read_back", prompt=prompt))
    recipe = Recipe(model=model.name, prompt=prompt, negative_prompt=negative_prompt, seed=0, steps=steps,
                    guidance=float(guidance), width=width, height=height, scheduler=SCHEDULER, preview=preview)
    validate(recipe, config)
    check_fits_model(recipe, model)
    check_budget(recipe, model, config)
    # 2. encode: the picture with the VAE, the prompt with the text encoder(s)
    conditioning = conditioning_for(model, recipe)
    if conditioning.scheduled or conditioning.composable:
        raise InputError("prompt", say("inversion.allowed.plain_prompt"), prompt)
    with model.lock:
        z0 = encode_picture(model, picture)
        vae_round = PreviewDecoder(model, "full")(z0)[0]
    # 3. invert: the DDIM steps backwards, watching x_t and x0 on the way
    levels = step_levels(model, steps)
    decode = PreviewDecoder(model, preview, size=(height, width)) if watch else None
    way_back: list[StepPreview] = []

    def watched(i: int, t: int, x: torch.Tensor, x0: torch.Tensor) -> None:
        noisy, clean = decode(x)[0], decode(x0)[0]
        way_back.append(StepPreview(i, steps, t, noisy, clean, None))

    predict = NoisePredictor(model, conditioning, height, width)
    guided = model.adapter.guided(guidance) and method == "null-text"
    with model.lock:
        latents = invert_latent(predict, z0, levels, 1.0 if guided else guidance, watched if watch else None, refine)
        nulls, loss, taken = (null_text_optimise(predict, latents, levels, guidance, iterations) if guided
                              else ([], None, 0))
    if guided:
        conditioning = per_step(conditioning, nulls)
    elif method == "null-text":
        notes.append(say("inversion.note.null_text_unguided"))
    noise = latents[-1]
    inversion = Inversion(picture, recipe, source, method, noise, latents, conditioning, way_back,
                          vae_psnr=psnr(np.asarray(picture), vae_round), vae_image=vae_round, stats=noise_stats(noise),
                          seed_stats=noise_stats(seed_noise(0, tuple(noise.shape), noise.dtype)), notes=notes,
                          null_embeds=nulls, final_loss=loss, null_text_steps=taken)
    # 4. regenerate through the one generation path, from the inverted noise
    if regenerate:
        reconstruct(model, inversion, config)
    return inversion


def reconstruct(model, inversion: Inversion, config: ExplorerConfig | None = None) -> Inversion:
    """Draw the picture again from its inverted noise (generation.generate) and measure it against the original."""
    result = generate(model, inversion.recipe, conditioning=inversion.conditioning, latents=inversion.noise.clone(),
                      watch=False, config=config)
    inversion.regeneration, inversion.reconstruction = result, result.image
    inversion.psnr = psnr(np.asarray(inversion.original), np.asarray(result.image.convert("RGB")))
    if inversion.vae_image is not None:
        inversion.inversion_psnr = psnr(inversion.vae_image, np.asarray(result.image.convert("RGB")))
    return inversion


# ----------------------------------------------------------------------------------------------
# 4. using the noise: an edit (new prompt, same noise), a walk between two pictures
def edit(model, inversion: Inversion, prompt: str, config: ExplorerConfig | None = None) -> Generation:
    """The inverted picture under another prompt, from the same noise (null-text: with the same per-step null
    embeddings, as Prompt-to-Prompt edits a null-text inversion)."""
    check_text("prompt", prompt, max_chars=MAX_PROMPT_CHARS, noun="prompt")
    check_prompt_length(model, prompt, "prompt")
    recipe = inversion.recipe.with_(prompt=prompt)
    conditioning = conditioning_for(model, recipe)
    if inversion.null_embeds:
        conditioning = per_step(replace(conditioning, schedule=()), inversion.null_embeds)
    return generate(model, recipe, conditioning=conditioning, latents=inversion.noise.clone(), watch=False,
                    config=config)


def walk_pictures(model, a: Inversion, b: Inversion, frames: int, method: str = "slerp",
                  config: ExplorerConfig | None = None,
                  on_frame: Callable[[Frame], None] | None = None) -> Walk:
    """A walk between two inverted pictures: the noises slerped (Shoemake 1985) and the prompts' conditionings
    interpolated (a walk frame's recipe, through generation.conditioning), each frame drawn by generate(). The result
    is an ordinary explore.walks.Walk (response curves, GIF/MP4 export), its recipes carry the prompts; the noise
    is the inversions' (saved beside them by the caller), not a seed's."""
    config = config or ExplorerConfig()
    check_int("frames", frames, 2, config.max_frames)
    check_choice("method", method, WALK_METHODS)
    if (a.recipe.width, a.recipe.height) != (b.recipe.width, b.recipe.height):
        raise InputError("images", say("inversion.allowed.same_size"),
                         f"{a.recipe.width}x{a.recipe.height}, {b.recipe.width}x{b.recipe.height}")
    walk = Walk([a.recipe.prompt, b.recipe.prompt], [a.recipe.seed], method, "linear")
    for i, t in enumerate(schedule_positions(frames)):
        noise = slerp(a.noise.flatten(), b.noise.flatten(), float(t)).reshape(a.noise.shape)     # (1, C, h, w)
        recipe = a.recipe.with_(walk=WalkFrame(a.recipe.prompt, b.recipe.prompt, float(t), method, 0, "linear",
                                               i, frames))
        frame = Frame(i, 0, float(t), recipe)
        frame.image = generate(model, recipe, latents=noise, watch=False, config=config).image
        walk.frames.append(frame)
        if on_frame is not None:
            on_frame(frame)
    return walk
