"""Cross-attention maps: which word the denoiser attends to where, per token and per step.

Following DAAM (Tang et al., "What the DAAM: Interpreting Stable Diffusion Using Cross Attention",
ACL 2023, castorini/daam): at every cross-attention layer the softmax probabilities
softmax(Q K^T / sqrt(d)) of each image position over the text tokens are averaged over heads,
upsampled to one common grid, and averaged over layers; a word's map over time is the mean over
steps. DAAM sums instead of averaging; the maps differ by a constant factor only. Layers coarser than
MIN_SIDE cells are left out where finer ones exist (a 4 x 4 map cannot say where in a picture a word acts).

Capture does not copy the pipeline and does not change the image: each cross-attention module
(`attn2`) keeps its own processor for its output, and a wrapper computes the probabilities beside
it from the same inputs (`Attention.get_attention_scores`, which SDPA does not expose). Memory stays
bounded: maps are aggregated as they come, at the latent resolution capped at MAX_GRID per side.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import InputError
from explorer.messages import say

MAX_GRID = 64            # maps are kept at the latent resolution, at most this many cells per side
MIN_SIDE = 8             # layers coarser than this (cells on the longer side) are left out when finer ones exist
FLAT = 1.5               # a map whose max / min is below this is "nearly flat": attended about equally everywhere


@dataclass
class AttentionMaps:
    """What the denoiser's cross-attention looked at, for every text position (start, words, end, padding)."""

    steps: np.ndarray            # (S, R, T, h, w) float32: per step, per UNet row, per token position
    rows: list[str]              # what each UNet row is: "negative", "prompt" (AND: "prompt 1", "prompt 2", ...)
    grid: tuple[int, int]        # (h, w) of the maps
    layers: int = 0              # cross-attention layers averaged per step
    layout: object = None        # joint attention (SD3, FLUX): which text tokens the columns are (joint_attention.Layout)

    @property
    def aggregate(self) -> np.ndarray:
        """(R, T, h, w): the mean over every step."""
        return self.steps.mean(axis=0)

    def row(self, name: str = "prompt") -> int:
        if name not in self.rows:
            raise InputError("half", say("checks.one_of", choices=", ".join(self.rows)), name)
        return self.rows.index(name)


@dataclass
class _Store:
    grid: tuple[int, int]                         # (h, w) every map is resampled to
    latent: tuple[int, int]                       # (H, W) of the latents, to infer each layer's resolution
    current: dict = field(default_factory=dict)   # (h, w) of a layer -> [sum of this step's maps (R, T, gh, gw), n]
    steps: list[np.ndarray] = field(default_factory=list)
    layers_per_step: int = 0

    def record(self, probs: torch.Tensor) -> None:
        """probs (R, heads, q, T) of one layer: mean over heads, onto the common grid, summed per resolution."""
        rows, _, q, tokens = probs.shape
        h, w = _layer_shape(q, *self.latent)
        maps = probs.float().mean(dim=1).transpose(1, 2).reshape(rows, tokens, h, w)      # (R, T, h, w)
        if (h, w) != self.grid:
            maps = F.interpolate(maps, size=self.grid, mode="bilinear", align_corners=False)
        total = self.current.setdefault((h, w), [0, 0])
        total[0], total[1] = total[0] + maps, total[1] + 1

    def end_step(self) -> None:
        """The step's map: the mean over its layers, leaving out layers coarser than MIN_SIDE where finer ones
        exist. Such a layer cannot place a word: on miniworld (16 x 16 latents) its four 4 x 4 layers put the
        shape word's centroid a median 2.2 latent cells from the drawn shape (8 x 8 layers: 0.28; 16 seeds), and,
        four of seven layers, they pulled the mean off too (0.89, "6 px right and below" in one picture)."""
        if self.current:
            fine = [key for key in self.current if max(key) >= MIN_SIDE] or list(self.current)
            self.layers_per_step = sum(self.current[key][1] for key in fine)
            self.steps.append((sum(self.current[key][0] for key in fine) / self.layers_per_step).cpu().numpy())
        self.current = {}


def _layer_shape(q: int, height: int, width: int) -> tuple[int, int]:
    """The (h, w) of a layer with q positions: the latent size halved by the UNet's downsamplers (rounding up)."""
    factor = 1
    while factor <= max(height, width):
        h, w = math.ceil(height / factor), math.ceil(width / factor)
        if h * w == q:
            return h, w
        factor *= 2
    side = int(round(math.sqrt(q)))
    return side, max(1, q // side)


class CapturingProcessor:
    """Wraps a cross-attention processor: its output unchanged, the probabilities recorded beside it."""

    def __init__(self, inner, store: _Store):
        self.inner, self.store = inner, store

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        out = self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        if encoder_hidden_states is not None:
            self.store.record(_probabilities(attn, hidden_states, encoder_hidden_states, attention_mask, temb))
        return out


def attention_probabilities(attn, hidden_states, encoder_hidden_states, attention_mask=None,
                            temb=None) -> torch.Tensor:
    """softmax(Q K^T * scale) as diffusers' AttnProcessor computes it: (B, heads, q, T), differentiable."""
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    if hidden_states.ndim == 4:
        batch, channel, height, width = hidden_states.shape
        hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
    batch = encoder_hidden_states.shape[0]
    mask = attn.prepare_attention_mask(attention_mask, encoder_hidden_states.shape[1], batch)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    if attn.norm_cross:
        encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
    query = attn.head_to_batch_dim(attn.to_q(hidden_states))
    key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
    probs = attn.get_attention_scores(query, key, mask)                      # (B * heads, q, T)
    return probs.view(batch, attn.heads, probs.shape[1], probs.shape[2])


_probabilities = torch.no_grad()(attention_probabilities)       # what a capture records: no autograd graph


def map_grid(height: int, width: int, vae_scale_factor: int) -> tuple[int, int]:
    """The grid maps are kept at: the latent resolution, scaled down to at most MAX_GRID per side."""
    h, w = height // vae_scale_factor, width // vae_scale_factor
    scale = min(1.0, MAX_GRID / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


@contextmanager
def capture_attention(model, height: int, width: int) -> Iterator[_Store]:
    """Record the cross-attention of every `attn2` module of the model's UNet while inside (hold the model's lock).
    SD3 and FLUX have joint attention instead: generation.joint_attention.capture_maps takes either."""
    if model.adapter.flow:
        raise ValueError("a flow-matching transformer has joint attention: generation.joint_attention.capture_maps")
    unet = model.pipe.unet
    originals = dict(unet.attn_processors)
    store = _Store(map_grid(height, width, model.vae_scale_factor),
                   (height // model.vae_scale_factor, width // model.vae_scale_factor))
    unet.set_attn_processor({name: CapturingProcessor(processor, store) if name.endswith("attn2.processor")
                             else processor for name, processor in originals.items()})
    try:
        yield store
    finally:
        unet.set_attn_processor(originals)


def to_maps(store: _Store, rows: list[str]) -> AttentionMaps:
    """The recorded steps as AttentionMaps (no steps: an empty (0, R, T, h, w) array)."""
    steps = np.stack(store.steps) if store.steps else np.zeros((0, len(rows), 0, *store.grid), np.float32)
    return AttentionMaps(steps.astype(np.float32), rows, store.grid, store.layers_per_step,
                         getattr(store, "layout", None))


def row_names(guidance: bool, prompts: int = 1) -> list[str]:
    """The UNet's batch rows, in the pipeline's order: the negative half first when guidance is on."""
    names = ["prompt"] if prompts == 1 else [f"prompt {i + 1}" for i in range(prompts)]
    return (["negative"] if guidance else []) + names


def mass_inside(attention: np.ndarray, mask: np.ndarray) -> float:
    """Share of a map's mass inside a boolean mask of the same shape (resample the mask first)."""
    total = float(attention.sum())
    return float(attention[mask].sum()) / total if total > 0 else 0.0


@dataclass
class TokenMaps:
    """One UNet row's maps by token, as a person reads them: start, word pieces, end, and the padding summed."""

    labels: list[str]                   # the token strings as the tokenizer shows them, then "padding (N)"
    kinds: list[str]                    # "start", "word", "end", "pad"
    steps: np.ndarray                   # (S, K, h, w)
    words: list[tuple[str, list[int]]]  # each word of the prompt and the indices of its pieces in `labels`
    half: str = "prompt"
    shown: str = ""                     # joint attention: which encoder's tokens these are (a sentence; "" on a UNet)

    @property
    def aggregate(self) -> np.ndarray:
        """(K, h, w): the mean over every step."""
        return self.steps.mean(axis=0)

    def choices(self, special: bool = True) -> list[str]:
        """The names a person can pick: the words, then (with `special`) start, end and padding."""
        names = [word for word, _ in self.words]
        if special:
            names += [label for label, kind in zip(self.labels, self.kinds) if kind != "word"]
        return names

    def indices(self, name: str) -> list[int]:
        """Token indices of a word (its pieces) or of a special token, by the name `choices` gives."""
        for word, positions in self.words:
            if word == name:
                return positions
        for i, (label, kind) in enumerate(zip(self.labels, self.kinds)):
            if kind != "word" and label == name:
                return [i]
        raise InputError("word", say("attention.word", choices=", ".join(self.choices())), name)

    def word_steps(self, name: str) -> np.ndarray:
        """(S, h, w): a word's map at every step (its pieces summed)."""
        return self.steps[:, self.indices(name)].sum(axis=1)

    def step(self, name: str, index: int) -> np.ndarray:
        """(h, w): a word's map at one step (0-based)."""
        total = self.steps.shape[0]
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < total:
            raise InputError("step", say("checks.int_in", low=1, high=total, note=say("attention.steps_note")),
                             index + 1 if isinstance(index, int) else index)
        return self.word_steps(name)[index]

    def contrast(self, name: str, aggregate: np.ndarray | None = None) -> float:
        """max / min of a word's map over all steps (inf when some cell got no attention at all)."""
        aggregate = (self.aggregate if aggregate is None else aggregate)[self.indices(name)].sum(axis=0)
        low = float(aggregate.min())
        return float(aggregate.max()) / low if low > 0 else float("inf")

    def flat(self) -> list[str]:
        """The words and tokens whose map is nearly flat (contrast below FLAT): no region stands out."""
        aggregate = self.aggregate                                      # the mean over steps, once
        return [name for name in self.choices() if self.contrast(name, aggregate) < FLAT]

    def mass(self) -> dict[str, float]:
        """Share of all attention each word and special token received (mean over image positions and steps).
        Padding and the end token usually take nearly all of it (SD: ~99%), so read words with `shares`."""
        total = self.aggregate.reshape(self.aggregate.shape[0], -1).mean(axis=1)
        return {name: float(total[self.indices(name)].sum()) for name in self.choices()}

    def shares(self, mass: dict[str, float] | None = None) -> dict[str, float]:
        """Each word's share of the attention the prompt's words received together (they sum to 1; start, end
        and padding are left out: `special`)."""
        mass = self.mass() if mass is None else mass
        words = {word: mass[word] for word, _ in self.words}
        total = sum(words.values())
        return {word: value / total if total > 0 else 0.0 for word, value in words.items()}

    def special(self, mass: dict[str, float] | None = None) -> dict[str, float]:
        """Start, end and padding: each one's share of all attention (listed apart from the words)."""
        mass = self.mass() if mass is None else mass
        return {name: mass[name] for name in self.choices() if name not in dict(self.words)}


START, END = "<|startoftext|>", "<|endoftext|>"


def token_maps(maps: AttentionMaps, report, half: str = "prompt") -> TokenMaps:
    """Label one row of AttentionMaps with its prompt's token report (text.tokens.TokenReport; None for an
    empty negative prompt, which is a start token, an end token and padding)."""
    row = maps.steps[:, maps.row(half)]                                      # (S, T, h, w)
    end = report.end_position if report is not None else 1
    labels = [t.text for t in report.tokens[:end + 1]] if report is not None else [START, END]
    kinds = [t.kind for t in report.tokens[:end + 1]] if report is not None else ["start", "end"]
    pads = row.shape[1] - (end + 1)
    steps = row[:, :end + 1]
    if pads > 0:
        labels.append(f"padding ({pads} tokens)")
        kinds.append("pad")
        steps = np.concatenate([steps, row[:, end + 1:].sum(axis=1, keepdims=True)], axis=1)
    words = []
    for w, (word, _) in enumerate(report.words() if report is not None else []):
        positions = [i for i, t in enumerate(report.tokens[:end + 1]) if t.word == w and t.kind == "word"]
        if positions:
            seen = sum(1 for name, _ in words if name == word or name.startswith(f"{word} ("))
            words.append((word if not seen else f"{word} ({seen + 1})", positions))   # "a", "a (2)"
    return TokenMaps(labels, kinds, steps, words, half)


QUANTA = 255             # kept maps: one byte a cell, each map's own range (its minimum and maximum exactly)


def _quantise(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., h, w) float maps as uint8 cells and each map's (low, high), so low and high come back exactly."""
    low = maps.min(axis=(-2, -1), keepdims=True).astype(np.float32)
    high = maps.max(axis=(-2, -1), keepdims=True).astype(np.float32)
    span = np.where(high > low, high - low, 1.0)
    cells = np.rint((maps.astype(np.float32) - low) / span * QUANTA).astype(np.uint8)
    return cells, np.concatenate([low, high], axis=-1)[..., 0, :]               # (..., 2)


def _dequantise(cells: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    low, high = ranges[..., 0, None, None], ranges[..., 1, None, None]
    return low + cells.astype(np.float32) / QUANTA * (high - low)


@dataclass
class CompactTokenMaps(TokenMaps):
    """TokenMaps kept in few bytes for a session's views: the mean over steps at the maps' grid and each step's
    maps on a coarser grid (the per-step strip shows thumbnails), both one byte a cell with each map's own range.
    `steps` holds the per-step cells; `aggregate` and `word_steps` give float32 back."""

    step_ranges: np.ndarray | None = None       # (S, K, 2) each step map's low and high
    mean_cells: np.ndarray | None = None        # (K, h, w) uint8
    mean_ranges: np.ndarray | None = None       # (K, 2)

    @property
    def aggregate(self) -> np.ndarray:
        return _dequantise(self.mean_cells, self.mean_ranges)

    def word_steps(self, name: str) -> np.ndarray:
        """(S, h', w'): a word's map at every step on the coarser grid (its pieces summed)."""
        positions = self.indices(name)
        return _dequantise(self.steps[:, positions], self.step_ranges[:, positions]).sum(axis=1)

    @property
    def nbytes(self) -> int:
        return int(self.steps.nbytes + self.step_ranges.nbytes + self.mean_cells.nbytes + self.mean_ranges.nbytes)


def compact_maps(maps: TokenMaps, max_bytes: int) -> CompactTokenMaps:
    """The maps in at most `max_bytes`: the mean over steps at full grid, the steps on the largest grid that fits
    (at least 1 x 1 cell; fewer bytes than a 1 x 1 grid needs raise ValueError)."""
    steps = np.asarray(maps.steps, dtype=np.float32)                            # (S, K, h, w)
    count, tokens, h, w = steps.shape
    mean_cells, mean_ranges = _quantise(steps.mean(axis=0) if count else np.zeros((tokens, h, w), np.float32))
    room = max_bytes - mean_cells.nbytes - mean_ranges.nbytes - count * tokens * 2 * 4   # left for step cells
    scale = math.sqrt(room / max(1, count * tokens * h * w)) if room > 0 else 0.0
    grid = (max(1, min(h, int(h * scale))), max(1, min(w, int(w * scale))))
    if count and room < count * tokens * grid[0] * grid[1]:
        raise ValueError(f"attention maps of {count} steps x {tokens} tokens do not fit in {max_bytes} bytes")
    if grid != (h, w) and count:
        steps = F.adaptive_avg_pool2d(torch.from_numpy(steps.reshape(count * tokens, h, w)), grid).numpy()
        steps = steps.reshape(count, tokens, *grid)
    step_cells, step_ranges = _quantise(steps)
    return CompactTokenMaps(maps.labels, maps.kinds, step_cells, maps.words, maps.half, shown=maps.shown,
                            step_ranges=step_ranges,
                            mean_cells=mean_cells, mean_ranges=mean_ranges)
