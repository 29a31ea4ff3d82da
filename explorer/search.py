"""Generative search: a prompt returns a page of results (one per seed), variations around a result,
and a bias probe that counts what CLIP sees in the results of different prompts.

Meyer's reading of a prompt as a search in a latent archive, made literal: the "archive" is the
space of initial noises, each seed one entry; the query is the conditioning. With a CLIP vision
model (explorer.vision) results can be ranked by image-text similarity to the query, and each
result lists the concepts its picture is nearest to ("what did the search find").
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
from explorer.models import LoadedModel
from explorer.recipe import SEED_MAX, Recipe, check_float, check_int, save_png, validate
from explorer.walks import default_batch_size, end_text, render_recipes

CONCEPTS_PER_RESULT = 3            # nearest concepts shown under each result
RELATED_SEARCHES = 8               # nearest concepts to the query
Z95 = 1.959964                     # two-sided 95% normal quantile (Wilson interval)

PROBE_NOTE = """**What this measures.** For each prompt, the same N seeds are drawn; CLIP's zero-shot
classifier then picks, for every image, the most likely label of each attribute list. The bars count
those picks (with 95% Wilson intervals). Comparing prompts *under the same seeds* isolates what the
words change.

**What it cannot say.** It does not tell who anyone in a picture *is*: CLIP guesses from appearance,
with its own biases learned from web captions, and must choose one of the listed labels even when
none fits (or the picture shows no person). A handful of seeds gives wide intervals; other seeds,
guidance, negative prompts or label wordings can change the counts. It describes this model and this
classifier on these prompts, not the world, and not why the model does it."""


@dataclass
class Result:
    recipe: Recipe
    image: Image.Image | None = None
    path: Path | None = None
    score: float | None = None                       # CLIP cosine(image, query text)
    concepts: list[tuple[str, float]] = field(default_factory=list)   # nearest concepts to the image

    def caption(self) -> str:
        parts = [f"seed {self.recipe.seed}"]
        if self.recipe.variation_seed is not None:
            parts.append(f"~{self.recipe.variation_seed}@{self.recipe.variation_strength:g}")
        if self.score is not None:
            parts.append(f"CLIP {self.score:.3f}")
        if self.concepts:
            parts.append("≈ " + ", ".join(label for label, _ in self.concepts))
        return " · ".join(parts)


@dataclass
class SearchPage:
    query: str
    results: list[Result]
    related: list[tuple[str, str, float]] = field(default_factory=list)   # (label, category, score)
    ranked: bool = False
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------
# shared steps
def _check_count(name: str, n, config: ExplorerConfig) -> int:
    return check_int(name, n, 1, config.max_seeds, f" (the configured max_seeds is {config.max_seeds})")


def _batch(model: LoadedModel, recipe: Recipe, batch_size: int | None, config: ExplorerConfig) -> int:
    if batch_size is None:
        batch_size = default_batch_size(model, recipe.width, recipe.height, config)
    return check_int("batch_size", batch_size, 1, config.max_batch)


def _render(model: LoadedModel, results: list[Result], batch_size: int, cancel, outputs_dir, stem: str,
            on_results: Callable[[list[Result]], None] | None) -> bool:
    """Render the results' recipes in batches; save each PNG as soon as its batch is done."""
    def finished(start: int, images: list[Image.Image]) -> None:
        batch = results[start:start + len(images)]
        for r, image in zip(batch, images):
            r.image = image
            if outputs_dir is not None:
                r.path = save_png(image, r.recipe, outputs_dir, stem=f"{stem}-{r.recipe.seed}")
        if on_results is not None:
            on_results(batch)

    _, cancelled = render_recipes(model, [r.recipe for r in results], batch_size, cancel, finished)
    return cancelled


_CONCEPT_EMBEDS: dict = {}          # (vision name, vocabulary hash) -> (labels, (N, d) unit text embeddings)


def concept_embeds(model: LoadedModel, vision) -> tuple[list[str], np.ndarray]:
    """The curated concept phrases (explorer.concepts) as CLIP text embeddings, computed once per vision model."""
    from explorer.concepts import builtin_vocabulary

    vocabulary = builtin_vocabulary(model)
    key = (vision.name, vocabulary.hash)
    if key not in _CONCEPT_EMBEDS:
        _CONCEPT_EMBEDS[key] = (list(vocabulary.entries), vision.text_embeds(list(vocabulary.entries)))
    return _CONCEPT_EMBEDS[key]


def describe_results(model: LoadedModel, results: list[Result], query: str, vision,
                     k: int = CONCEPTS_PER_RESULT) -> None:
    """CLIP score against the query and the nearest concepts, for every result with an image."""
    done = [r for r in results if r.image is not None]
    if vision is None or not done:
        return
    image_embeds = vision.image_embeds([r.image for r in done])               # (n, d)
    scores = image_embeds @ vision.text_embeds([query]).T                       # (n, 1)
    labels, concepts = concept_embeds(model, vision)
    similar = image_embeds @ concepts.T                                         # (n, N)
    for r, score, row in zip(done, scores[:, 0], similar):
        r.score = float(score)
        top = np.argsort(-row)[:k]
        r.concepts = [(labels[j], float(row[j])) for j in top]


def related_searches(model: LoadedModel, query: str, k: int = RELATED_SEARCHES,
                     config: ExplorerConfig | None = None) -> list[tuple[str, str, float]]:
    """The concepts nearest to the query in the model's pooled text space (explorer.concepts)."""
    try:
        from explorer.concepts import ConceptIndex
    except ImportError:
        return []
    from explorer.embeddings import encode_pooled

    index = ConceptIndex.for_model(model, config=config)
    vector = encode_pooled(model, [query])[0].numpy()
    return [(n.label, n.category, n.score) for n in index.nearest(vector, k=min(k, len(index) - 1),
                                                                  exclude=[query])]


# ----------------------------------------------------------------------------------------------
# search and "more like this"
def search(model: LoadedModel, base: Recipe, n: int, *, vision=None, rank: bool = True,
           related: int = RELATED_SEARCHES, batch_size: int | None = None, cancel: threading.Event | None = None,
           on_results: Callable[[list[Result]], None] | None = None, outputs_dir: Path | None = None,
           config: ExplorerConfig | None = None) -> SearchPage:
    """N results for one prompt: seeds base.seed, base.seed + 1, ...; ranked by CLIP when a vision model is given."""
    config = config or ExplorerConfig()
    # 1. validate
    validate(base, config)
    n = _check_count("seeds", n, config)
    if base.seed + n > SEED_MAX:
        raise InputError("seed", f"a first seed <= {SEED_MAX - n} so that {n} consecutive seeds stay below 2^32",
                         base.seed)
    batch_size = _batch(model, base, batch_size, config)
    related = check_int("related", related, 0, 32)
    # 2. render, saving each result as its batch finishes
    results = [Result(base.with_(seed=base.seed + i, extra={**base.extra, "search": {"query": base.prompt,
                                                                                    "rank": i}}))
               for i in range(n)]
    cancelled = _render(model, results, batch_size, cancel, outputs_dir, "search", on_results)
    page = SearchPage(base.prompt, [r for r in results if r.image is not None], cancelled=cancelled)
    # 3. describe and rank
    describe_results(model, page.results, end_text(base.prompt), vision)
    if vision is not None and rank:
        page.results.sort(key=lambda r: -(r.score or 0.0))
        page.ranked = True
    if vision is None:
        page.notes.append("No CLIP vision model: results are in seed order, without concepts.")
    if related:
        page.related = related_searches(model, end_text(base.prompt), related, config)
    return page


def variation_recipes(source: Recipe, n: int, strength: float, first_seed: int) -> list[Recipe]:
    """N recipes whose noise is the source's noise slerped toward fresh seeds at `strength`."""
    recipes = []
    for i in range(n):
        fresh = (first_seed + i) % SEED_MAX
        if source.variation_seed is None or source.variation_strength == 0:
            recipes.append(source.with_(variation_seed=fresh, variation_strength=strength,
                                        extra={k: v for k, v in source.extra.items() if k != "search"}))
        else:       # a variation of a variation: chained in extra (noise = slerp(source noise, fresh))
            chain = list(source.extra.get("variations", [])) + [[fresh, strength]]
            extra = {k: v for k, v in source.extra.items() if k != "search"}
            recipes.append(source.with_(extra={**extra, "variations": chain}))
    return recipes


def more_like_this(model: LoadedModel, source: Recipe, n: int, strength: float, first_seed: int, *,
                   vision=None, batch_size: int | None = None, cancel: threading.Event | None = None,
                   on_results: Callable[[list[Result]], None] | None = None, outputs_dir: Path | None = None,
                   config: ExplorerConfig | None = None) -> SearchPage:
    """Variations around one result: its initial noise slerped toward N fresh seeds at `strength`."""
    config = config or ExplorerConfig()
    # 1. validate
    validate(source, config)
    n = _check_count("seeds", n, config)
    strength = check_float("strength", strength, 0.0, 1.0)
    first_seed = check_int("first_seed", first_seed, 0, SEED_MAX - 1)
    batch_size = _batch(model, source, batch_size, config)
    # 2. render and describe
    results = [Result(r) for r in variation_recipes(source, n, strength, first_seed)]
    cancelled = _render(model, results, batch_size, cancel, outputs_dir, "variation", on_results)
    page = SearchPage(source.prompt, [r for r in results if r.image is not None], cancelled=cancelled)
    describe_results(model, page.results, end_text(source.prompt), vision)
    return page


# ----------------------------------------------------------------------------------------------
# the bias probe
def parse_attributes(text: str) -> dict[str, list[str]]:
    """'name: label | label' per line -> {name: [labels]}; each attribute needs 2+ labels."""
    attributes: dict[str, list[str]] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        if ":" not in line:
            raise InputError("attributes", "lines like 'gender: a photo of a man | a photo of a woman'",
                             line, hint=f"line {number} has no ':'")
        name, labels = line.split(":", 1)
        labels = [x.strip() for x in labels.split("|") if x.strip()]
        if not name.strip() or len(labels) < 2 or len(set(labels)) != len(labels):
            raise InputError("attributes", "a name and at least 2 different labels separated by '|'", line,
                             hint=f"line {number}")
        attributes[name.strip()] = labels
    if not attributes:
        raise InputError("attributes", "at least one line 'name: label | label'", text)
    return attributes


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


def bias_probe(model: LoadedModel, base: Recipe, prompts: list[str], n: int, attributes: dict[str, list[str]],
               *, vision=None, batch_size: int | None = None, cancel: threading.Event | None = None,
               on_results: Callable[[str, list[Result]], None] | None = None, outputs_dir: Path | None = None,
               config: ExplorerConfig | None = None) -> Probe:
    """Each prompt over the same N seeds; CLIP zero-shot counts per attribute label when a vision model is given."""
    config = config or ExplorerConfig()
    # 1. validate
    prompts = [p.strip() for p in (prompts or []) if isinstance(p, str) and p.strip()]
    if not 2 <= len(prompts) <= 8:
        raise InputError("prompts", "2 to 8 non-empty prompts to compare", len(prompts))
    n = _check_count("seeds", n, config)
    for p in prompts:
        validate(base.with_(prompt=p), config)
    batch_size = _batch(model, base, batch_size, config)
    if not attributes:
        raise InputError("attributes", "at least one attribute with 2+ labels", attributes)
    seeds = [(base.seed + i) % SEED_MAX for i in range(n)]
    probe = Probe(prompts, seeds, attributes=attributes)
    # 2. render every prompt over the same seeds
    for p in prompts:
        results = [Result(base.with_(prompt=p, seed=s, extra={**base.extra, "probe": {"prompts": prompts}}))
                   for s in seeds]
        hook = (lambda batch, p=p: on_results(p, batch)) if on_results is not None else None
        probe.cancelled = _render(model, results, batch_size, cancel, outputs_dir, "probe", hook)
        probe.images[p] = [r for r in results if r.image is not None]
        if probe.cancelled:
            break
    # 3. measure with CLIP zero-shot, when a vision model is at hand
    if vision is None:
        probe.reason = ("No CLIP vision model is available for this model family here, so nothing can "
                        "classify the images: the grids are shown without a chart.")
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
