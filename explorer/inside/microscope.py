"""The feature microscope: a model's shipped SAEs and their oracle labels, and what the Features view shows of one
feature (its top pictures with heat maps, its label and purity, its activation at every denoising step)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from explorer.errors import InputError
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.inside.features import Trace, describe, feature_maps, heat_map, make_probe_set
from explorer.inside.sae import BlockSAEs
from explorer.messages import say

SAE_FOLDER = "sae"           # a model folder's SAEs: <model>/sae/<block>/{config.json, state_dict.pth, mean.pt, std.pt}
LABELS_FILE = "labels.json"  # beside them: the oracle's labels (python -m explorer.inside.train writes it)
COLOURS_FILE = "paint_colours.json"   # and each colour's calibrated paint (python -m explorer.inside.calibrate)
TOP_SHOWN = 6                # top pictures the view shows
HEAT = (230, 30, 30)         # heat-map colour over the picture


@dataclass
class Microscope:
    """A model's SAEs, one per block, and the labels measured for their features."""

    saes: BlockSAEs
    record: dict                 # labels.json: the command, the settings and per block the feature table
    colours: dict = field(default_factory=dict)     # paint_colours.json ({} when the model has none)

    @classmethod
    def for_model(cls, model) -> "Microscope":
        folder = model.folder / SAE_FOLDER if model.folder is not None else None
        if folder is None or not (folder / LABELS_FILE).is_file():
            raise InputError("model", say("sae.no_saes"), model.name)
        record = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))
        colours = json.loads((folder / COLOURS_FILE).read_text(encoding="utf-8")) \
            if (folder / COLOURS_FILE).is_file() else {}
        return cls(BlockSAEs.from_folder(folder), record, colours)

    @property
    def blocks(self) -> list[str]:
        return list(self.saes.saes)

    def features(self, block: str | None = None) -> list[dict]:
        """The labelled features (explorer.inside.features.describe), of one block or all."""
        if block is not None:
            self.saes.get(block)
        rows = describe(self.saes, self.record["blocks"])
        return [r for r in rows if block is None or r["block"] == block]

    def best(self, block: str, label: str) -> int | None:
        """The purest feature of a block with this label (ties: the most active); None when no feature has it."""
        rows = [r for r in self.features(block) if r["label"] == label]
        return min(rows, key=lambda r: (-r["purity"], r["rank"]))["id"] if rows else None

    def entry(self, block: str, feature: int) -> dict:
        feature = self.saes.check_feature(block, feature)
        return next(e for e in self.record["blocks"][block]["features"] if e["id"] == feature)


@dataclass
class FeatureView:
    block: str
    feature: int
    label: str | None
    purity: float
    fires: int
    pictures: list[Image.Image]        # top pictures with the heat map over them
    captions: list[str]
    prompt: str                        # what the per-step trace generated
    seed: int
    peak: list[float]                  # the feature's largest activation at every step of that generation
    mean: list[float]                  # its mean over positions


def overlay(picture: np.ndarray, heat: np.ndarray, size: int = 192) -> Image.Image:
    """A picture with a heat map (in [0, 1]) laid over it, enlarged for the eye."""
    alpha = 0.65 * heat[..., None]
    mixed = (1 - alpha) * picture.astype(np.float32) + alpha * np.array(HEAT, np.float32)
    return Image.fromarray(mixed.round().astype(np.uint8)).resize((size, size), Image.Resampling.NEAREST)


def feature_view(model, scope: Microscope, block: str, feature: int, prompt: str | None = None,
                 seed: int = 0, shown: int = TOP_SHOWN) -> FeatureView:
    """One feature: its top pictures of the probe set (recomputed, each exactly as measured) with heat maps, and its
    activation at every step of a generation (default prompt: the caption of its top picture)."""
    entry = scope.entry(block, feature)
    sae = scope.saes.get(block)
    probe = scope.record["probe"]
    top = entry["top"][:shown]
    pictures, captions = [], []
    if top:
        probes = make_probe_set(model, probe["images"], probe["seed"], [block], indices=top)
        maps = feature_maps(sae, probes.updates[block])
        for i in range(len(top)):
            pictures.append(overlay(probes.images[i], heat_map(maps, i, feature, probes.images.shape[1])))
            captions.append(probes.captions[i])
    prompt = prompt if prompt is not None and prompt.strip() else (captions[0] if captions else "a circle")
    trace = Trace(sae, feature)
    generate(model, recipe_defaults(model, prompt, seed=seed), watch=False, block_hooks={block: trace})
    return FeatureView(block, feature, entry["label"], entry["purity"], entry["fires"], pictures, captions, prompt,
                       seed, trace.peak, trace.mean)
