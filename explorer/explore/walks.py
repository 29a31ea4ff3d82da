"""Walks between prompts and seeds: frames whose recipes interpolate conditioning and noise.

A prompt walk holds the initial noise fixed and moves the conditioning (the (1, 77, d) sequence
the UNet attends to) from one end to the next by lerp or slerp per token. A seed walk holds the
prompt fixed and slerps the initial noise between seeds (A1111's variation seed: the same
operation, so every frame's Recipe is an ordinary seed + variation_seed + variation_strength).
Both can move at once. Each frame is a Recipe (a `WalkFrame` for prompt walks); the frames go
through the UNet in batches (explorer.generation.batches), which on a CPU or GPU is much faster
than one pipeline call per frame.

An end is a plain prompt, or a prompt-arithmetic expression when it starts with "=", e.g.
`= "a castle" - "stone" + "glass"` (evaluated in the conditioning space).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from explorer.checks import check_choice, check_int
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.batches import default_batch_size, render_recipes
from explorer.generation.conditioning import end_sequences, negative_sequences
from explorer.generation.recipe import (SEED_MAX, WALK_METHODS, WALK_SCHEDULES, Recipe, WalkFrame, check_budget,
                                       validate)
from explorer.messages import say
from explorer.models.loaded import LoadedModel
from explorer.outputs.export import frames_mp4, steps_gif
from explorer.outputs.files import reserve_path
from explorer.outputs.png import save_png
from explorer.text.phrases import is_expression, strip_prefix

METHODS = WALK_METHODS                      # how the conditioning moves between ends
SCHEDULES = WALK_SCHEDULES                  # where the frames sit along each segment


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


# ----------------------------------------------------------------------------------------------
# 2. the ends: prompts (or expressions) and seeds
def check_ends(prompts: list[str], seeds: list[int], frames: int, config: ExplorerConfig) -> tuple[list, list]:
    """Validate the ends of a walk: 1..N prompts and 1..N seeds, and at least one list moving."""
    prompts = [p for p in (prompts or [])]
    seeds = list(seeds or [])
    if not prompts or not all(isinstance(p, str) and strip_prefix(p) for p in prompts):
        raise InputError("prompts", say("explore.walk.prompts"), prompts)
    if not seeds:
        raise InputError("seeds", say("explore.walk.seeds"), seeds)
    seeds = [check_int("seeds", s, 0, SEED_MAX - 1) for s in seeds]
    if len(prompts) == 1 and len(seeds) == 1:
        raise InputError("prompts", say("explore.walk.two_ends"),
                         say("walks.received.ends", n=len(prompts), m=len(seeds)))
    if len(prompts) > 1 and len(seeds) > 1 and len(prompts) != len(seeds):
        raise InputError("seeds", say("explore.walk.seed_per_prompt", n=len(prompts)), len(seeds))
    segments = max(len(prompts), len(seeds)) - 1
    check_int("frames", frames, 2, config.max_frames)
    total = segments * (frames - 1) + 1
    if total > config.max_frames:
        raise InputError("frames", say("explore.walk.max_frames", max=config.max_frames, segments=segments),
                         say("walks.received.frames", frames=frames, total=total))
    return prompts, seeds


# ----------------------------------------------------------------------------------------------
# 3. the walk: frames with their recipes, rendered in batches
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
        if len(moving) == 2:
            return say("explore.walk.both")
        return say(f"explore.walk.{moving[0]}") if moving else " walk"


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
        if f.recipe.walk is not None:
            f.recipe = f.recipe.with_(walk=replace(f.recipe.walk, frame=f.index, of=len(walk.frames)))
    return walk


def _frame_recipe(base: Recipe, walk: Walk, s: int, t: float) -> Recipe:
    prompts, seeds = walk.prompts, walk.seeds
    seed_walk, prompt_walk = len(seeds) > 1, len(prompts) > 1
    prompt = prompts[s] if prompt_walk else prompts[0]
    seed = seeds[s] if seed_walk else seeds[0]
    frame = WalkFrame(prompts[s], prompts[s + 1], t, walk.method, s, walk.schedule) if prompt_walk else None
    recipe = base.with_(prompt=prompt, seed=seed, walk=frame,
                        expression=strip_prefix(prompt) if is_expression(prompt) else None)
    if seed_walk:
        recipe = recipe.with_(variation_seed=seeds[s + 1], variation_strength=t)
    return recipe


def render_walk(model: LoadedModel, walk: Walk, batch_size: int, cancel: threading.Event | None = None,
                on_frames: Callable[[list[Frame]], None] | None = None) -> Walk:
    """Give every frame of a planned walk its image, in UNet batches; `on_frames` gets each finished batch."""
    def finished(start: int, images: list[Image.Image]) -> None:
        batch = walk.frames[start:start + len(images)]
        for f, image in zip(batch, images):
            f.image = image
        if on_frames is not None:
            on_frames(batch)

    walk.batch_size = batch_size
    _, walk.cancelled = render_recipes(model, [f.recipe for f in walk.frames], batch_size, cancel, finished)
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
    validate(base.with_(prompt=strip_prefix(prompts[0]), seed=seeds[0]), config)
    check_budget(base, model, config)
    if batch_size is None:
        batch_size = default_batch_size(model, base.width, base.height, config)
    batch_size = check_int("batch_size", batch_size, 1, config.max_batch)
    for p in prompts:
        end_sequences(model, p, base.renormalize)                  # fail early on a bad end
    negative_sequences(model, base.negative_prompt)
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
# 4. saving: PNGs with recipes, the film as GIF and MP4, the recipes as JSON
def save_frames(frames: list[Frame], folder: Path | str, stem: str = "walk") -> list[Path]:
    """Each finished frame as a PNG carrying its recipe (never overwriting)."""
    for f in frames:
        if f.image is not None and f.path is None:
            f.path = save_png(f.image, f.recipe, folder, stem=f"{stem}-f{f.index:03d}")
    return [f.path for f in frames if f.path is not None]


def export_walk(walk: Walk, folder: Path | str, gif: Path | None = None, mp4: Path | bool = True,
                fps: int = 8) -> dict[str, Path]:
    """The finished frames as an animated GIF, an MP4 (a path, True: in folder, False: none) and a JSON
    list of recipes; new files only."""
    frames = [np.asarray(f.image.convert("RGB")) for f in walk.done]
    if not frames:
        return {}
    out = {"gif": steps_gif(frames, gif or reserve_path(folder, "walk", ".gif"), ms_per_frame=1000 // fps,
                            hold_last_ms=1000 // fps)}
    try:
        if mp4:
            out["mp4"] = frames_mp4(frames, reserve_path(folder, "walk", ".mp4") if mp4 is True else mp4, fps=fps)
    except (ImportError, OSError, RuntimeError) as error:       # imageio-ffmpeg missing: say so, keep the rest
        out["mp4_error"] = say("explore.walk.no_mp4", error=f"{type(error).__name__}: {error}")
    path = reserve_path(folder, "walk-recipes", ".json")
    path.write_text(json.dumps({"kind": walk.kind, "prompts": walk.prompts, "seeds": walk.seeds,
                                "method": walk.method, "schedule": walk.schedule, "cancelled": walk.cancelled,
                                "frames": [{"index": f.index, "position": f.position,
                                            "png": f.path.name if f.path else None, "recipe": f.recipe.to_dict()}
                                           for f in walk.done]}, indent=2, ensure_ascii=False))
    out["recipes"] = path
    return out
