"""Walks between prompts and seeds: interpolated conditioning and noise, rendered in UNet batches.

A prompt walk holds the initial noise fixed and moves the conditioning (the (1, 77, d) sequence
the UNet attends to) from one end to the next by lerp or slerp per token. A seed walk holds the
prompt fixed and slerps the initial noise between seeds (A1111's variation seed: the same
operation, so every frame's Recipe is an ordinary seed + variation_seed + variation_strength).
Both can move at once. Frames go through the diffusers pipeline in batches of prompt_embeds and
latents, which on a CPU or GPU is much faster than one pipeline call per frame; batched frames
equal per-frame calls up to float rounding of batched matrix products (see tests/test_walks.py).

An end is a plain prompt, or a prompt-arithmetic expression when it starts with "=", e.g.
`= "a castle" - "stone" + "glass"` (evaluated by explorer.arithmetic in conditioning space).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.models import LoadedModel, make_scheduler
from explorer.recipe import SEED_MAX, Recipe, check_choice, check_int, validate
from explorer.vectors import lerp, slerp

METHODS = ("slerp", "lerp")                 # how the conditioning moves between ends
SCHEDULES = ("linear", "ease", "adaptive")  # where the frames sit along each segment
EXPRESSION_PREFIX = "="                     # an end starting with "=" is a prompt-arithmetic expression
MEMORY_FRACTION = 0.25                      # share of free memory a batch may plan to use
BYTES_PER_FLOAT = 4


# ----------------------------------------------------------------------------------------------
# 1. pure helpers: positions along a segment
def schedule_positions(k: int, schedule: str = "linear") -> np.ndarray:
    """K positions t in [0, 1] (both ends included): evenly spaced, or eased (1 - cos(pi u)) / 2."""
    u = np.linspace(0.0, 1.0, k)
    if schedule == "ease":                       # ease-in-out: more frames near the ends
        return (1.0 - np.cos(np.pi * u)) / 2.0
    return u


def equal_change_positions(ts: np.ndarray, changes: np.ndarray, k: int) -> np.ndarray:
    """K positions with equal cumulative change between them (inverse CDF of a piecewise-linear curve).

    ts (m,) sorted positions of a coarse pass, changes (m - 1,) the change between neighbours
    (e.g. pixel distance): more frames land where the picture changes fastest. Ends are kept.
    """
    changes = np.maximum(np.asarray(changes, dtype=np.float64), 0.0) + 1e-9   # (m - 1,)
    cumulative = np.concatenate([[0.0], np.cumsum(changes)])                  # (m,)
    targets = np.linspace(0.0, cumulative[-1], k)                             # (k,)
    positions = np.interp(targets, cumulative, np.asarray(ts, dtype=np.float64))
    positions[0], positions[-1] = ts[0], ts[-1]
    return positions


def pixel_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images' pixels (mean-centred cosine), in [-1, 1]."""
    x = a.astype(np.float64).ravel() - a.mean()
    y = b.astype(np.float64).ravel() - b.mean()
    denom = np.linalg.norm(x) * np.linalg.norm(y)
    return float(x @ y / denom) if denom > 0 else 1.0


def default_batch_size(model: LoadedModel, width: int, height: int, config: ExplorerConfig | None = None) -> int:
    """Frames per UNet batch that fit in a share of free memory (a rough attention-map estimate)."""
    config = config or ExplorerConfig()
    unet = model.pipe.unet.config
    tokens = (height // model.pipe.vae_scale_factor) * (width // model.pipe.vae_scale_factor)
    heads = unet.attention_head_dim if isinstance(unet.attention_head_dim, int) else max(unet.attention_head_dim)
    element = torch.finfo(model.dtype).bits // 8
    # 2 (guidance doubles the batch) x self-attention map at full latent resolution x heads, plus activations
    per_frame = 2 * (tokens * tokens * heads + tokens * max(unet.block_out_channels) * 16) * element
    free = _free_memory(model.device)
    return int(max(1, min(config.max_batch, MEMORY_FRACTION * free // max(per_frame, 1))))


def _free_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


# ----------------------------------------------------------------------------------------------
# 2. ends: prompts (or expressions) and seeds
def is_expression(end: str) -> bool:
    return end.strip().startswith(EXPRESSION_PREFIX)


def encode_end(model: LoadedModel, end: str, renormalize: bool = True) -> torch.Tensor:
    """The conditioning (1, 77, d) of a walk's end: a plain prompt, or an expression after "="."""
    from explorer.embeddings import check_prompt_length, encoding_cache

    if is_expression(end):
        try:
            from explorer import arithmetic
        except ImportError:
            raise InputError("prompts", "plain prompts (expressions starting with '=' need "
                             "explorer.arithmetic, which is not installed)", end) from None
        result = arithmetic.evaluate(model, end.strip()[len(EXPRESSION_PREFIX):].strip(),
                                     space="conditioning", renormalize=renormalize)
        return result.conditioning.to(model.device, model.dtype)
    check_prompt_length(model.tokenizer, end, "prompts")
    return encoding_cache(model).conditioning(end)


def end_text(end: str) -> str:
    """The words of an end without the expression mark (for CLIP text scores and captions)."""
    return end.strip()[len(EXPRESSION_PREFIX):].strip() if is_expression(end) else end.strip()


def check_ends(prompts: list[str], seeds: list[int], frames: int, config: ExplorerConfig) -> tuple[list, list]:
    """Validate the ends of a walk: 1..N prompts and 1..N seeds, and at least one list moving."""
    prompts = [p for p in (prompts or [])]
    seeds = list(seeds or [])
    if not prompts or not all(isinstance(p, str) and end_text(p) for p in prompts):
        raise InputError("prompts", "one or more non-empty prompts (one per line)", prompts)
    if not seeds:
        raise InputError("seeds", "one or more integer seeds", seeds)
    seeds = [check_int("seeds", s, 0, SEED_MAX - 1) for s in seeds]
    if len(prompts) == 1 and len(seeds) == 1:
        raise InputError("prompts", "at least 2 prompts (a prompt walk) or at least 2 seeds (a seed walk)",
                         f"{len(prompts)} prompt and {len(seeds)} seed")
    if len(prompts) > 1 and len(seeds) > 1 and len(prompts) != len(seeds):
        raise InputError("seeds", f"1 seed, or {len(prompts)} seeds (one per prompt, to walk both at once)",
                         len(seeds))
    segments = max(len(prompts), len(seeds)) - 1
    check_int("frames", frames, 2, config.max_frames)
    total = segments * (frames - 1) + 1
    if total > config.max_frames:
        raise InputError("frames", f"at most {config.max_frames} frames in all: {segments} segments x "
                         f"(frames - 1) + 1 <= {config.max_frames}", f"{frames} per segment = {total} frames")
    return prompts, seeds


# ----------------------------------------------------------------------------------------------
# 3. a frame's inputs from its recipe (so any saved frame can be made again)
def recipe_noise(recipe: Recipe, shape: tuple, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The recipe's initial noise: seed, its variation, then any chained variations in extra["variations"]."""
    from diffusers.utils.torch_utils import randn_tensor

    from explorer.generate import initial_noise

    noise = initial_noise(recipe, shape, dtype)
    for seed, strength in recipe.extra.get("variations", []):
        other = randn_tensor(shape, generator=torch.Generator("cpu").manual_seed(int(seed)), dtype=dtype)
        noise = slerp(noise.flatten(), other.flatten(), float(strength)).reshape(shape)
    return noise


def interpolate_conditioning(a: torch.Tensor, b: torch.Tensor, t: float, method: str) -> torch.Tensor:
    """(1, 77, d) conditioning between two ends: lerp, or slerp per token; the ends exactly at t = 0, 1."""
    if t <= 0.0:
        return a
    if t >= 1.0:
        return b
    return slerp(a, b, t, dim=-1) if method == "slerp" else lerp(a, b, t)


def frame_inputs(model: LoadedModel, recipe: Recipe) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(prompt_embeds (1, 77, d) or None, latents (1, c, h, w) or None) that remake a recipe's image."""
    from explorer.generate import latent_shape

    walk = recipe.extra.get("interpolation")
    embeds = None
    if walk and walk.get("prompts") and len(walk["prompts"]) == 2:
        a, b = (encode_end(model, p, recipe.renormalize) for p in walk["prompts"])
        embeds = interpolate_conditioning(a, b, float(walk["t"]), walk.get("method", "slerp"))
    elif is_expression(recipe.prompt):
        embeds = encode_end(model, recipe.prompt, recipe.renormalize)
    latents = None
    if recipe.extra.get("variations"):
        latents = recipe_noise(recipe, latent_shape(model, recipe), model.dtype)
    return embeds, latents


def regenerate(model: LoadedModel, recipe: Recipe, **kwargs):
    """generate() for any recipe this module writes (interpolated frames, chained variations)."""
    from explorer.embeddings import encoding_cache
    from explorer.generate import generate

    embeds, latents = frame_inputs(model, recipe)
    negative = None
    if embeds is not None:
        negative = encoding_cache(model).conditioning(recipe.negative_prompt or "")
    return generate(model, recipe, prompt_embeds=embeds, negative_prompt_embeds=negative, latents=latents,
                    **kwargs)


# ----------------------------------------------------------------------------------------------
# 4. the batched renderer
def render_batches(model: LoadedModel, recipes: list[Recipe], prompt_embeds: torch.Tensor,
                   negative_embeds: torch.Tensor, latents: torch.Tensor, batch_size: int,
                   cancel: threading.Event | None = None,
                   on_batch: Callable[[int, list[Image.Image]], None] | None = None) -> tuple[list, bool]:
    """Images for N frames sharing steps/guidance/size/scheduler, `batch_size` at a time through the pipeline.

    prompt_embeds and negative_embeds (N, 77, d), latents (N, c, h, w) unscaled noise. Each frame
    gets its own CPU generator seeded with its recipe's seed, advanced past the initial-noise draw
    where generate() lets the pipeline draw it, so ancestral schedulers add the same step noise as
    a one-frame generate() (or regenerate()) of the frame's recipe. Returns
    (images, cancelled); a batch interrupted by `cancel` is dropped (its frames are unfinished).
    """
    from diffusers.utils.torch_utils import randn_tensor

    base = recipes[0]
    pipe, images, cancelled = model.pipe, [], False
    shape = (1, *latents.shape[1:])

    def stop_check(pipe_, i, t, kwargs):
        if cancel is not None and cancel.is_set():
            pipe_._interrupt = True
        return kwargs

    for start in range(0, len(recipes), batch_size):
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        chunk = slice(start, start + batch_size)
        generators = []
        for r in recipes[chunk]:
            g = torch.Generator("cpu").manual_seed(r.seed)
            if _pipeline_draws_noise(r):                             # generate() let the pipeline draw it
                randn_tensor(shape, generator=g, dtype=model.dtype)
            generators.append(g)
        with model.lock, torch.inference_mode():
            original, pipe.scheduler = pipe.scheduler, make_scheduler(base.scheduler, model.base_scheduler_config)
            try:
                out = pipe(prompt_embeds=prompt_embeds[chunk], negative_prompt_embeds=negative_embeds[chunk],
                           latents=latents[chunk].to(model.device, model.dtype), num_inference_steps=base.steps,
                           guidance_scale=base.guidance, width=base.width, height=base.height,
                           num_images_per_prompt=1, generator=generators,
                           callback_on_step_end=stop_check if cancel is not None else None).images
            finally:
                pipe.scheduler = original
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        images.extend(out)
        if on_batch is not None:
            on_batch(start, out)
    return images, cancelled


def _pipeline_draws_noise(recipe: Recipe) -> bool:
    """True when generate() leaves the initial noise to the pipeline (so its generator is advanced past it)."""
    varied = recipe.variation_seed is not None and recipe.variation_strength > 0
    return not varied and not recipe.extra.get("variations")


# ----------------------------------------------------------------------------------------------
# 5. the walk
@dataclass
class Frame:
    index: int                      # 0-based position in the film
    segment: int                    # which pair of ends it sits between
    t: float                        # position within the segment, 0..1
    recipe: Recipe
    image: Image.Image | None = None
    path: Path | None = None        # the saved PNG (with its recipe)

    @property
    def position(self) -> float:
        return self.segment + self.t


@dataclass
class Walk:
    prompts: list[str]
    seeds: list[int]
    method: str
    schedule: str
    frames: list[Frame] = field(default_factory=list)
    cancelled: bool = False
    batch_size: int = 1

    @property
    def done(self) -> list[Frame]:
        return [f for f in self.frames if f.image is not None]

    @property
    def kind(self) -> str:
        moving = [name for name, ends in (("prompt", self.prompts), ("seed", self.seeds)) if len(ends) > 1]
        return " and ".join(moving) + " walk"


def plan_walk(model: LoadedModel, base: Recipe, prompts: list[str], seeds: list[int], frames: int,
              method: str = "slerp", schedule: str = "linear", positions: list[np.ndarray] | None = None) -> Walk:
    """The frames of a walk with their recipes (no images yet); `positions` overrides the schedule."""
    n_ends = max(len(prompts), len(seeds))
    walk = Walk(prompts, seeds, method, schedule)
    for s in range(n_ends - 1):
        ts = positions[s] if positions is not None else schedule_positions(frames, schedule)
        for j, t in enumerate(ts):
            if s > 0 and j == 0:
                continue                                  # shared end: counted once
            walk.frames.append(Frame(len(walk.frames), s, float(t), _frame_recipe(base, walk, s, float(t))))
    for f in walk.frames:
        if "interpolation" in f.recipe.extra:
            f.recipe.extra["interpolation"].update(frame=f.index, of=len(walk.frames))
    return walk


def _frame_recipe(base: Recipe, walk: Walk, s: int, t: float) -> Recipe:
    prompts, seeds = walk.prompts, walk.seeds
    seed_walk, prompt_walk = len(seeds) > 1, len(prompts) > 1
    prompt = prompts[s] if prompt_walk else prompts[0]
    seed = seeds[s] if seed_walk else seeds[0]
    extra = dict(base.extra)
    if prompt_walk:
        extra["interpolation"] = {"prompts": [prompts[s], prompts[s + 1]], "t": t, "method": walk.method,
                                  "segment": s, "schedule": walk.schedule}
    recipe = base.with_(prompt=prompt, seed=seed, extra=extra,
                        expression=end_text(prompt) if is_expression(prompt) else None)
    if seed_walk:
        recipe = recipe.with_(variation_seed=seeds[s + 1], variation_strength=t)
    return recipe


def render_walk(model: LoadedModel, walk: Walk, batch_size: int, cancel: threading.Event | None = None,
                on_frames: Callable[[list[Frame]], None] | None = None) -> Walk:
    """Give every frame of a planned walk its image, in UNet batches; `on_frames` gets each finished batch."""
    from explorer.embeddings import encoding_cache
    from explorer.generate import latent_shape

    # 1. encode every end once, and the negative prompt
    ends = {p: encode_end(model, p, walk.frames[0].recipe.renormalize) for p in dict.fromkeys(walk.prompts)}
    negative = encoding_cache(model).conditioning(walk.frames[0].recipe.negative_prompt or "")  # (1, 77, d)
    # 2. each frame's conditioning and initial noise
    conds, noises = [], []
    shape = latent_shape(model, walk.frames[0].recipe)
    for f in walk.frames:
        pair = f.recipe.extra.get("interpolation", {}).get("prompts")
        conds.append(interpolate_conditioning(ends[pair[0]], ends[pair[1]], f.t, walk.method) if pair
                     else ends[walk.prompts[0]])
        noises.append(recipe_noise(f.recipe, shape, model.dtype))
    prompt_embeds = torch.cat(conds)                                   # (N, 77, d)
    negative_embeds = negative.expand(len(conds), -1, -1)              # (N, 77, d)
    latents = torch.cat(noises)                                        # (N, c, h, w)

    # 3. denoise in batches, handing out each finished batch
    def finished(start: int, images: list[Image.Image]) -> None:
        batch = walk.frames[start:start + len(images)]
        for f, image in zip(batch, images):
            f.image = image
        if on_frames is not None:
            on_frames(batch)

    walk.batch_size = batch_size
    _, walk.cancelled = render_batches(model, [f.recipe for f in walk.frames], prompt_embeds, negative_embeds,
                                       latents, batch_size, cancel, finished)
    return walk


def interpolate(model: LoadedModel, base: Recipe, prompts: list[str], seeds: list[int], frames: int, *,
                method: str = "slerp", schedule: str = "linear", batch_size: int | None = None,
                cancel: threading.Event | None = None, on_frames: Callable[[list[Frame]], None] | None = None,
                config: ExplorerConfig | None = None) -> Walk:
    """A prompt walk, a seed walk, or both: validate, place the frames, render them in batches."""
    config = config or ExplorerConfig()
    # 1. validate
    prompts, seeds = check_ends(prompts, seeds, frames, config)
    check_choice("method", method, METHODS)
    check_choice("schedule", schedule, SCHEDULES)
    validate(base.with_(prompt=end_text(prompts[0]), seed=seeds[0]), config)
    if batch_size is None:
        batch_size = default_batch_size(model, base.width, base.height, config)
    batch_size = check_int("batch_size", batch_size, 1, config.max_batch)
    for p in prompts:
        encode_end(model, p, base.renormalize)                     # fail early on a bad end
    check_text_lengths(model, base.with_(prompt=""))
    # 2. place the frames (adaptive: a coarse pass first, then equal change between frames)
    positions = None
    if schedule == "adaptive":
        coarse = plan_walk(model, base, prompts, seeds, max(3, frames // 4 + 1), method, "linear")
        render_walk(model, coarse, batch_size, cancel)
        if coarse.cancelled:
            coarse.frames = coarse.done
            return coarse
        positions = []
        for s in range(max(len(prompts), len(seeds)) - 1):
            part = [f for f in coarse.frames if f.segment == s]
            if s > 0:                                              # its start is the previous segment's end
                part = [f for f in coarse.frames if f.segment == s - 1][-1:] + part
            ts = np.array([0.0] + [f.t for f in part[1:]]) if s > 0 else np.array([f.t for f in part])
            changes = np.array([1.0 - pixel_correlation(np.asarray(a.image), np.asarray(b.image))
                                for a, b in zip(part[:-1], part[1:])])
            positions.append(equal_change_positions(ts, changes, frames))
    walk = plan_walk(model, base, prompts, seeds, frames, method, schedule, positions)
    # 3. render
    return render_walk(model, walk, batch_size, cancel, on_frames)


# ----------------------------------------------------------------------------------------------
# 6. any list of recipes (search results, variations, probe images) through the same batches
def check_text_lengths(model: LoadedModel, recipe: Recipe) -> None:
    """Refuse prompts the text encoder would cut (plain prompts only: walks and expressions check their ends)."""
    from explorer.embeddings import check_prompt_length

    if recipe.prompt and not is_expression(recipe.prompt) and "interpolation" not in recipe.extra:
        check_prompt_length(model.tokenizer, recipe.prompt, "prompt")
    check_prompt_length(model.tokenizer, recipe.negative_prompt, "negative_prompt")


def render_recipes(model: LoadedModel, recipes: list[Recipe], batch_size: int,
                   cancel: threading.Event | None = None,
                   on_batch: Callable[[int, list[Image.Image]], None] | None = None) -> tuple[list, bool]:
    """Images for recipes that share steps, guidance, size and scheduler; each keeps its own text and noise."""
    from explorer.embeddings import encoding_cache
    from explorer.generate import latent_shape

    first = recipes[0]
    for r in recipes[1:]:
        if (r.steps, r.guidance, r.width, r.height, r.scheduler) != \
                (first.steps, first.guidance, first.width, first.height, first.scheduler):
            raise InputError("recipes", "recipes sharing steps, guidance, size and scheduler", r.to_json()[:80])
    for r in {(r.prompt, r.negative_prompt): r for r in recipes}.values():
        check_text_lengths(model, r)
    cache = encoding_cache(model)
    shape = latent_shape(model, first)
    conds, negatives, noises = [], [], []
    for r in recipes:
        embeds, _ = frame_inputs(model, r)
        conds.append(embeds if embeds is not None else cache.conditioning(r.prompt))   # (1, 77, d)
        negatives.append(cache.conditioning(r.negative_prompt or ""))                   # (1, 77, d)
        noises.append(recipe_noise(r, shape, model.dtype))                             # (1, c, h, w)
    return render_batches(model, recipes, torch.cat(conds), torch.cat(negatives), torch.cat(noises),
                          batch_size, cancel, on_batch)


# ----------------------------------------------------------------------------------------------
# 7. saving: PNGs with recipes, the film as GIF and MP4, the recipes as JSON
def save_frames(frames: list[Frame], folder: Path | str, stem: str = "walk") -> list[Path]:
    """Each finished frame as a PNG carrying its recipe (never overwriting)."""
    from explorer.recipe import save_png

    for f in frames:
        if f.image is not None and f.path is None:
            f.path = save_png(f.image, f.recipe, folder, stem=f"{stem}-f{f.index:03d}")
    return [f.path for f in frames if f.path is not None]


def export_walk(walk: Walk, folder: Path | str, gif: Path | None = None, mp4: Path | bool = True,
                fps: int = 8) -> dict[str, Path]:
    """The finished frames as an animated GIF, an MP4 (a path, True: in folder, False: none) and a JSON
    list of recipes; new files only."""
    import json
    from dataclasses import asdict

    from explorer.export import frames_mp4, steps_gif
    from explorer.files import reserve_path

    frames = [np.asarray(f.image.convert("RGB")) for f in walk.done]
    if not frames:
        return {}
    out = {"gif": steps_gif(frames, gif or reserve_path(folder, "walk", ".gif"), ms_per_frame=1000 // fps,
                            hold_last_ms=1000 // fps)}
    try:
        if mp4:
            out["mp4"] = frames_mp4(frames, reserve_path(folder, "walk", ".mp4") if mp4 is True else mp4, fps=fps)
    except (ImportError, OSError, RuntimeError) as error:       # imageio-ffmpeg missing: say so, keep the rest
        out["mp4_error"] = f"no MP4 ({type(error).__name__}: {error}); pip install imageio imageio-ffmpeg"
    path = reserve_path(folder, "walk-recipes", ".json")
    path.write_text(json.dumps({"kind": walk.kind, "prompts": walk.prompts, "seeds": walk.seeds,
                                "method": walk.method, "schedule": walk.schedule, "cancelled": walk.cancelled,
                                "frames": [{"index": f.index, "position": f.position,
                                            "png": str(f.path) if f.path else None, "recipe": asdict(f.recipe)}
                                           for f in walk.done]}, indent=2, ensure_ascii=False))
    out["recipes"] = path
    return out


# ----------------------------------------------------------------------------------------------
# 8. the response curve: how similar each frame is to each end, and where it flips
@dataclass
class Curves:
    positions: np.ndarray                             # (n,) segment + t per frame
    ends: list[str]                                   # one label per end
    measures: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n, n_ends) similarity
    flips: dict[str, list[float]] = field(default_factory=dict)    # name -> positions where the nearest end changes
    notes: list[str] = field(default_factory=list)


def flip_positions(positions: np.ndarray, similarity: np.ndarray) -> list[float]:
    """Where the most similar end changes from one frame to the next (midpoint between the two frames)."""
    nearest = similarity.argmax(axis=1)                                   # (n,)
    return [float((positions[i] + positions[i + 1]) / 2) for i in range(len(nearest) - 1)
            if nearest[i] != nearest[i + 1]]


def response_curves(model: LoadedModel, walk: Walk, vision=None) -> Curves:
    """Similarity of each finished frame to each end: input side (text or noise), pixels, and CLIP if available."""
    from explorer.embeddings import encode_pooled
    from explorer.generate import latent_shape
    from explorer.vectors import cosine_similarity

    frames = walk.done
    positions = np.array([f.position for f in frames])
    n_ends = max(len(walk.prompts), len(walk.seeds))
    prompts = walk.prompts if len(walk.prompts) > 1 else walk.prompts * n_ends
    seeds = walk.seeds if len(walk.seeds) > 1 else walk.seeds * n_ends
    labels = [f"{end_text(p)[:40]} (seed {s})" if len(walk.seeds) > 1 else end_text(p)[:48]
              for p, s in zip(prompts, seeds)] if len(walk.prompts) > 1 else [f"seed {s}" for s in seeds]
    curves = Curves(positions, labels)
    if not frames:
        return curves
    # 1. input side: the pooled text vector moves with the conditioning; the noise moves with the seeds
    if len(walk.prompts) > 1 and not any(is_expression(p) for p in walk.prompts):
        pooled = encode_pooled(model, [end_text(p) for p in walk.prompts])            # (n_ends, d)
        interp = slerp if walk.method == "slerp" else (lambda a, b, t, dim=-1: lerp(a, b, t))
        moved = torch.stack([interp(pooled[f.segment], pooled[f.segment + 1], f.t) for f in frames])  # (n, d)
        curves.measures["text (pooled)"] = cosine_similarity(moved[:, None, :], pooled[None]).numpy()
    if len(walk.seeds) > 1:
        shape = latent_shape(model, frames[0].recipe)
        noise = torch.stack([recipe_noise(f.recipe, shape).flatten() for f in frames])         # (n, D)
        ends = torch.stack([recipe_noise(frames[0].recipe.with_(seed=s, variation_seed=None), shape).flatten()
                            for s in walk.seeds])                                               # (n_ends, D)
        curves.measures["initial noise"] = cosine_similarity(noise[:, None, :], ends[None]).numpy()
    # 2. the pictures themselves: pixel correlation with each end's image
    end_frames = [frames[0]] + [f for f in frames if f.t == 1.0]
    if len(end_frames) == n_ends:
        pixels = [np.asarray(f.image.convert("RGB")) for f in frames]
        curves.measures["pixels"] = np.array([[pixel_correlation(p, np.asarray(e.image.convert("RGB")))
                                               for e in end_frames] for p in pixels])
    else:
        curves.notes.append("pixels: the walk stopped before its last end, so there is no end image to compare.")
    # 3. CLIP: image-to-text for prompt walks, image-to-image for seed walks
    if vision is not None:
        images = [f.image for f in frames]
        if len(walk.prompts) > 1:
            curves.measures["CLIP image-text"] = vision.similarity(images, [end_text(p) for p in walk.prompts])
        elif len(end_frames) == n_ends:
            curves.measures["CLIP image-image"] = vision.image_embeds(images) @ \
                vision.image_embeds([e.image for e in end_frames]).T
    else:
        curves.notes.append("No CLIP vision model in use: the picture's own similarity is measured in "
                            "pixels only.")
    for name, sim in curves.measures.items():
        curves.flips[name] = flip_positions(positions, sim)
    return curves
