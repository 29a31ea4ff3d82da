"""What an SAE feature fires for, checked against the miniature world's pixel oracle.

Activations. A block's residual update (output - input, as Surkov et al. hook their blocks) is read at every
position. For training and for measuring, miniworld's training pictures are noised to a denoising step of the
model's schedule and passed through the UNet once with their captions ("teacher forcing": the picture's truth is
known, and one UNet call replaces a 25-step generation); `trace` reads the same update during a real generation.

Labels and purity. A feature's activation on a picture is its largest over positions. Its top pictures are the TOP
pictures of a probe set where it fires most; the oracle reads colour, shape, size and position of each, and for each
attribute the most common value among the top pictures and its share (the purity) are counted. The label is the
attribute that beats chance most ((purity - chance) / (1 - chance): size has 2 values, colour 6), e.g.
`colour:blue`, with that attribute's purity. A label claims only this: among the pictures where the feature fires
most, that share shows the value. It does not claim the feature causes the value (Paint tests that), nor that it
fires on every picture with the value.
"""
from __future__ import annotations

import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from explorer.generation.schedulers import make_scheduler
from explorer.inside.sae import BlockSAEs, TopKSAE
from explorer.models.vae import encode as vae_encode
from explorer.world import oracle
from explorer.world.scenes import COLOURS, IMAGE_SIZE, POSITIONS, SHAPES, SIZES, Dataset, make_dataset, \
    make_scenes, render

ATTRIBUTES: dict[str, tuple[str, ...]] = {"colour": tuple(COLOURS), "shape": SHAPES, "size": tuple(SIZES),
                                          "position": tuple(POSITIONS)}
TOP = 16                  # top pictures per feature that its label is read from
MIN_TOP = 8               # a feature firing on fewer pictures of the probe set is left unlabelled ("rare")
PURE = 0.8                # the bar: purity >= 0.8 ...
MOST_ACTIVE = 64          # ... for >= 80% of the 64 most active features
BATCH = 64                # pictures per UNet call when collecting
NOISE_STRIDE = 1_000_003  # picture i of a set with seed s is noised with torch's seed s * NOISE_STRIDE + i


def residual_update(inputs, output) -> torch.Tensor:
    """A block's residual update (B, C, h, w): its output minus its input (paper: utils/hooks.py)."""
    out = output[0] if isinstance(output, tuple) else output.sample
    return out - inputs[0]


@contextmanager
def recording(denoiser, blocks: list[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """While open, every call of each named block appends its residual update (B, C, h, w) to store[block]."""
    store: dict[str, list[torch.Tensor]] = {b: [] for b in blocks}
    handles = [denoiser.get_submodule(b).register_forward_hook(
        lambda module, inputs, output, b=b: store[b].append(residual_update(inputs, output).detach().float()))
        for b in blocks]
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class ProbeSet:
    """Pictures of the world, each noised to one denoising step, with what the oracle reads in each."""

    images: np.ndarray                 # (N, 64, 64, 3) uint8, the clean pictures
    captions: list[str]
    steps: np.ndarray                  # (N,) int: the step index of the model's schedule each was noised to
    readings: list[dict[str, str | None]]   # the oracle's colour, shape, size and position per picture
    updates: dict[str, torch.Tensor] = field(default_factory=dict)   # block -> (N, h, w, C) residual updates


def make_probe_set(model, n: int, seed: int, blocks: list[str], indices: list[int] | None = None,
                   progress: bool = False) -> ProbeSet:
    """n training-distribution pictures (world seed `seed`), each noised to a random step of the model's schedule
    with its own noise, passed through the UNet once with its caption; the blocks' residual updates recorded.
    `indices`: only those pictures of the n, each exactly as in the whole set (its step and noise are its own)."""
    steps = model.preset.steps
    step_of = np.random.default_rng(seed).integers(0, steps, size=n)
    chosen = list(range(n)) if indices is None else list(indices)
    data = make_dataset(n, seed=seed) if indices is None else _some(n, seed, chosen)
    scheduler = make_scheduler("ddim", dict(model.pipe.scheduler.config))
    scheduler.set_timesteps(steps)
    collected: dict[str, list[torch.Tensor]] = {b: [] for b in blocks}
    batches = [chosen[i:i + BATCH] for i in range(0, len(chosen), BATCH)]
    with model.lock, model.text_lock, torch.inference_mode(), recording(model.denoiser, blocks) as store:
        for part in tqdm(batches, desc="activations", disable=not progress, file=sys.stderr):
            pixels = torch.from_numpy(data.images[part]).permute(0, 3, 1, 2).float() / 127.5 - 1
            z0 = vae_encode(model.pipe, pixels).to(model.dtype)
            t = scheduler.timesteps[torch.from_numpy(step_of[part])]
            noise = torch.stack([torch.randn(z0.shape[1:], generator=torch.Generator("cpu").manual_seed(
                seed * NOISE_STRIDE + i)) for i in part]).to(model.dtype)          # each picture's own noise
            embeds = model.pipe.encode_prompt([data.captions[i] for i in part], model.pipe.device, 1, False)[0]
            model.denoiser(scheduler.add_noise(z0, noise, t), t, encoder_hidden_states=embeds)
            for b in blocks:
                collected[b].append(store[b].pop().permute(0, 2, 3, 1))           # (B, h, w, C)
    return ProbeSet(data.images[chosen], [data.captions[i] for i in chosen], step_of[chosen],
                    [_reading(data.images[i]) for i in chosen], {b: torch.cat(v) for b, v in collected.items()})


def _some(n: int, seed: int, chosen: list[int]) -> Dataset:
    """make_dataset(n, seed) with only the chosen pictures drawn (the others stay blank)."""
    scenes, captions = make_scenes(n, seed=seed)
    images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    for i in chosen:
        images[i] = render(scenes[i])
    return Dataset(images, captions, scenes)


def _reading(image: np.ndarray) -> dict[str, str | None]:
    reading = oracle.read(image)
    return {a: getattr(reading, a) for a in ATTRIBUTES}


@torch.inference_mode()
def feature_maps(sae: TopKSAE, updates: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """(N, h, w, d_model) residual updates -> (N, h, w, n_dirs) feature activations."""
    return torch.cat([sae.encode(updates[i:i + chunk]) for i in range(0, len(updates), chunk)])


def per_picture(maps: torch.Tensor) -> np.ndarray:
    """(N, h, w, F) -> (N, F): each feature's largest activation on each picture."""
    return maps.amax(dim=(1, 2)).numpy()


@dataclass(frozen=True)
class FeatureLabel:
    """What the oracle says about one feature's top pictures."""

    id: int
    label: str | None             # "colour:blue"; None: fires on fewer than MIN_TOP pictures
    purity: float                 # share of the top pictures that show the label's value
    mass: float                   # total activation over the probe set (rank of "most active")
    fires: int                    # pictures of the probe set it fires on
    top: list[int]                # indices of its top pictures in the probe set


def purity_of(readings: list[dict], top: np.ndarray) -> dict[str, tuple[str | None, float]]:
    """For each attribute: the most common value among the top pictures' readings and its share."""
    found = {}
    for attribute in ATTRIBUTES:
        values = Counter(readings[i][attribute] for i in top)
        value, count = values.most_common(1)[0]
        found[attribute] = (value, count / len(top))
    return found


def lift(attribute: str, purity: float) -> float:
    """How far a purity lies above chance for an attribute, 0 at chance, 1 when pure."""
    chance = 1 / len(ATTRIBUTES[attribute])
    return (purity - chance) / (1 - chance)


def label_features(activations: np.ndarray, readings: list[dict]) -> list[FeatureLabel]:
    """Label every feature (N, F per-picture activations) from its top pictures' oracle readings."""
    labels = []
    for f in range(activations.shape[1]):
        column = activations[:, f]
        fires = int((column > 0).sum())
        top = np.argsort(-column, kind="stable")[:min(TOP, fires)]
        if fires < MIN_TOP:
            labels.append(FeatureLabel(f, None, 0.0, float(column.sum()), fires, top.tolist()))
            continue
        found = purity_of(readings, top)
        attribute = max(found, key=lambda a: (lift(a, found[a][1]), a))
        value, purity = found[attribute]
        labels.append(FeatureLabel(f, f"{attribute}:{value}", purity, float(column.sum()), fires, top.tolist()))
    return labels


def most_active(labels: list[FeatureLabel], n: int = MOST_ACTIVE) -> list[FeatureLabel]:
    return sorted(labels, key=lambda f: -f.mass)[:n]


def pure_share(labels: list[FeatureLabel], n: int = MOST_ACTIVE) -> float:
    """The issue's measure: the share of the n most active features whose purity is >= PURE."""
    ranked = most_active(labels, n)
    return sum(f.purity >= PURE for f in ranked) / max(1, len(ranked))


def pure_by_attribute(labels: list[FeatureLabel], n: int = MOST_ACTIVE) -> dict[str, tuple[int, int, float]]:
    """Of the n most active features, per attribute of their labels: (features, of them purity >= PURE, chance),
    chance being 1 / the attribute's values: size (2 values) is pure by luck far more often than colour (6)."""
    ranked = [f for f in most_active(labels, n) if f.label is not None]
    found = {}
    for attribute, values in ATTRIBUTES.items():
        mine = [f for f in ranked if f.label.split(":", 1)[0] == attribute]
        if mine:
            found[attribute] = (len(mine), sum(f.purity >= PURE for f in mine), 1 / len(values))
    return found


def confirmed_share(activations: np.ndarray, readings: list[dict], stored: dict[int, str], top: int = TOP) -> float:
    """The share of stored labels ({feature: "colour:blue"}) that a new probe set confirms: the feature's top
    pictures there show the labelled value in >= PURE of cases. A feature renumbered (an SAE with shuffled features
    against its stored labels) is not confirmed. `top`: fewer top pictures on a small set (a colour shows on about
    a sixth of the pictures: 16 of 96 at best)."""
    confirmed = 0
    for f, label in stored.items():
        attribute, value = label.split(":", 1)
        column = activations[:, f]
        best = np.argsort(-column, kind="stable")[:min(top, int((column > 0).sum()))]
        hits = [readings[i][attribute] == value for i in best]
        confirmed += len(hits) >= min(top, MIN_TOP) and np.mean(hits) >= PURE
    return confirmed / max(1, len(stored))


def heat_map(maps: torch.Tensor, picture: int, feature: int, size: int) -> np.ndarray:
    """(size, size) float32 in [0, 1]: where a feature fires on one picture, upsampled (nearest) to the image."""
    cells = maps[picture, :, :, feature].numpy()
    peak = float(cells.max())
    grid = cells / peak if peak > 0 else cells
    return np.kron(grid, np.ones((size // grid.shape[0], size // grid.shape[1]), np.float32))


class Trace:
    """A block hook for generate(..., block_hooks=...): one feature's activation (the prompt half) at every step,
    largest and mean over positions. The UNet runs once per step (both guidance halves in one batch)."""

    def __init__(self, sae: TopKSAE, feature: int):
        self.sae, self.feature = sae, feature
        self.peak: list[float] = []
        self.mean: list[float] = []

    def __call__(self, module, inputs, output):
        update = residual_update(inputs, output)[-1:].permute(0, 2, 3, 1)         # the prompt half: (1, h, w, C)
        values = self.sae.encode(update.float())[..., self.feature]
        self.peak.append(float(values.max()))
        self.mean.append(float(values.mean()))
        return None


def describe(saes: BlockSAEs, table: dict) -> list[dict]:
    """The feature list the CLI and API return: every labelled feature of every block, each with `block`, `id`,
    `label`, `purity`, `fires` (pictures of the probe set) and `rank` (by activation mass, 0 = most active)."""
    rows = []
    for block in saes.saes:
        for rank, entry in enumerate(sorted(table[block]["features"], key=lambda e: -e["mass"])):
            if entry["label"] is not None:
                rows.append({"block": block, "id": entry["id"], "label": entry["label"],
                             "purity": round(entry["purity"], 4), "fires": entry["fires"], "rank": rank})
    return rows
