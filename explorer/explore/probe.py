"""The bias probe: the same seeds under different prompts, and what CLIP sees in the results.

Comparing prompts under the same seeds isolates what the words change; CLIP's zero-shot
classifier counts the images per attribute label, with 95% Wilson intervals.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.explore.search import Result, batch_size_for, check_count, render_results
from explorer.generation.recipe import SEED_MAX, Origin, Recipe, check_budget, validate
from explorer.messages import say
from explorer.models.loaded import LoadedModel
from explorer.text.known import check_readable, words_note

Z95 = 1.959964                     # two-sided 95% normal quantile (Wilson interval)
BLANK_STD = 2.0                    # pixel standard deviation (0-255 scale) under which an image is nearly blank

PROBE_NOTE = """**What this measures.** For each prompt, the same N seeds are drawn; CLIP's zero-shot
classifier then picks, for every image, the most likely label of each attribute list. The bars count
those picks (with 95% Wilson intervals). Comparing prompts *under the same seeds* isolates what the
words change.

**What it cannot say.** It does not tell who anyone in a picture *is*: CLIP guesses from appearance,
with its own biases learned from web captions, and must choose one of the listed labels even when
none fits (or the picture shows no person). A handful of seeds gives wide intervals; other seeds,
guidance, negative prompts or label wordings can change the counts. It describes this model and this
classifier on these prompts, not the world, and not why the model does it."""


def parse_attributes(text: str) -> dict[str, list[str]]:
    """'name: label | label' per line -> {name: [labels]}; each attribute needs 2+ labels."""
    attributes: dict[str, list[str]] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        if ":" not in line:
            raise InputError("attributes", say("explore.probe.lines_like"), line,
                             hint=say("explore.probe.no_colon", n=number))
        name, labels = line.split(":", 1)
        labels = [x.strip() for x in labels.split("|") if x.strip()]
        if not name.strip() or len(labels) < 2 or len(set(labels)) != len(labels):
            raise InputError("attributes", say("explore.probe.two_labels"), line,
                             hint=say("explore.probe.line", n=number))
        attributes[name.strip()] = labels
    if not attributes:
        raise InputError("attributes", say("explore.probe.one_line"), text)
    return attributes


def blank_images(images: list[Image.Image], threshold: float = BLANK_STD) -> list[bool]:
    """Whether each image is nearly blank: the standard deviation of its pixels (0-255, all channels) < threshold."""
    return [float(np.asarray(image.convert("RGB"), dtype=np.float32).std()) < threshold for image in images]


def wilson_interval(count: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion count/n (Wilson 1927); (0, 0) when n = 0."""
    if n == 0:
        return 0.0, 0.0
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Probe:
    prompts: list[str]
    seeds: list[int]
    images: dict[str, list[Result]] = field(default_factory=dict)                  # prompt -> results
    attributes: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)          # attr -> prompt -> per label
    mean_probability: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    measured: bool = False
    cancelled: bool = False
    note: str = PROBE_NOTE
    reason: str = ""                                                               # why no chart
    blank: dict[str, int] = field(default_factory=dict)        # prompt -> nearly blank images (blank_images)
    notes: list[str] = field(default_factory=list)             # beside the result: unknown words, blank images

    def intervals(self) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """95% Wilson intervals of every count: attribute -> prompt -> one (low, high) share per label."""
        return {a: {p: [wilson_interval(c, len(self.seeds)) for c in row] for p, row in by.items()}
                for a, by in self.counts.items()}


def bias_probe(model: LoadedModel, base: Recipe, prompts: list[str], n: int, attributes: dict[str, list[str]],
               *, vision=None, batch_size: int | None = None, cancel: threading.Event | None = None,
               on_results: Callable[[str, list[Result]], None] | None = None, outputs_dir: Path | None = None,
               config: ExplorerConfig | None = None) -> Probe:
    """Each prompt over the same N seeds; CLIP zero-shot counts per attribute label when a vision model is given."""
    config = config or ExplorerConfig()
    # 1. validate
    prompts = [p.strip() for p in (prompts or []) if isinstance(p, str) and p.strip()]
    if not 2 <= len(prompts) <= 8:
        raise InputError("prompts", say("explore.probe.prompts"), len(prompts))
    n = check_count("seeds", n, config)
    for p in prompts:
        validate(base.with_(prompt=p), config)
    check_budget(base, model, config)
    batch_size = batch_size_for(model, base, batch_size, config)
    if not attributes:
        raise InputError("attributes", say("explore.probe.attributes"), attributes)
    check_readable(model, prompts, "prompts")          # prompts that differ only in words the model never saw
    if vision is not None:                             # labels its CLIP cannot tell apart (miniworld's grammar)
        for name, labels in attributes.items():
            check_readable(model, labels, f"attributes ({name})", "labels")
    seeds = [(base.seed + i) % SEED_MAX for i in range(n)]
    probe = Probe(prompts, seeds, attributes=attributes)
    probe.notes += [note for note in (words_note(model, prompts),) if note]
    # 2. render every prompt over the same seeds
    for p in prompts:
        results = [Result(base.with_(prompt=p, seed=s, origin=Origin("probe", prompts=tuple(prompts))))
                   for s in seeds]
        hook = (lambda batch, p=p: on_results(p, batch)) if on_results is not None else None
        probe.cancelled = render_results(model, results, batch_size, cancel, outputs_dir, "probe", hook)
        probe.images[p] = [r for r in results if r.image is not None]
        probe.blank[p] = sum(blank_images([r.image for r in probe.images[p]]))
        if probe.cancelled:
            break
    blank, drawn = sum(probe.blank.values()), sum(len(results) for results in probe.images.values())
    if blank:
        probe.notes.append(say("explore.probe.blank_chart" if vision is not None else "explore.probe.blank",
                               blank=blank, drawn=drawn))
    # 3. measure with CLIP zero-shot, when a vision model is at hand
    if vision is None:
        probe.reason = say("explore.probe.no_vision")
        return probe
    for name, labels in attributes.items():
        probe.counts[name], probe.mean_probability[name] = {}, {}
        for p, results in probe.images.items():
            if not results:
                continue
            probs = vision.zero_shot([r.image for r in results], labels)            # (n, L)
            picks = probs.argmax(axis=1)
            probe.counts[name][p] = [int((picks == j).sum()) for j in range(len(labels))]
            probe.mean_probability[name][p] = [float(x) for x in probs.mean(axis=0)]
    probe.measured = True
    return probe
