"""Generative search: a prompt returns a page of results (one per seed), variations around a result,
and a bias probe that counts what CLIP sees in the results of different prompts.

Meyer's reading of a prompt as a search in a latent archive, made literal: the "archive" is the
space of initial noises, each seed one entry; the query is the conditioning. With a CLIP vision
model (explorer.vision) results can be ranked by image-text similarity to the query, and each
result lists the concepts its picture is nearest to ("what did the search find").
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from explorer.checks import check_float, check_int
from explorer.concepts.index import ConceptIndex
from explorer.concepts.vocabularies import builtin_vocabulary
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.batches import default_batch_size, render_recipes
from explorer.generation.recipe import SEED_MAX, Origin, Recipe, Variation, check_budget, validate
from explorer.messages import say
from explorer.models.loaded import LoadedModel
from explorer.outputs.png import save_png
from explorer.text.encoding import encode_pooled
from explorer.text.phrases import strip_prefix

CONCEPTS_PER_RESULT = 3            # nearest concepts shown under each result
RELATED_SEARCHES = 8               # nearest concepts to the query
Annotator = Callable[[LoadedModel, str, list[Image.Image]], list[str]]   # (model, prompt, results) -> notes


@dataclass
class Result:
    recipe: Recipe
    image: Image.Image | None = None
    path: Path | None = None
    score: float | None = None                       # CLIP cosine(image, query text)
    concepts: list[tuple[str, float]] = field(default_factory=list)   # nearest concepts to the image

    def caption(self) -> str:
        """The CLI's caption, "seed 3 · ~5@0.5 · CLIP 0.312 · ≈ red, circle": a Text whose "seed 3" is keyed, the rest
        as it is (numbers, concept names)."""
        parts = []
        if self.recipe.variation_seed is not None:
            parts.append(f"~{self.recipe.variation_seed}@{self.recipe.variation_strength:g}")
        if self.score is not None:
            parts.append(f"CLIP {self.score:.3f}")
        if self.concepts:
            parts.append("≈ " + ", ".join(label for label, _ in self.concepts))
        return say("explore.search.caption_seed", seed=self.recipe.seed) + "".join(" · " + part for part in parts)


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
def check_count(name: str, n, config: ExplorerConfig) -> int:
    return check_int(name, n, 1, config.max_seeds, say("ui_search.max_seeds_note", n=config.max_seeds))


def batch_size_for(model: LoadedModel, recipe: Recipe, batch_size: int | None, config: ExplorerConfig) -> int:
    if batch_size is None:
        batch_size = default_batch_size(model, recipe.width, recipe.height, config)
    return check_int("batch_size", batch_size, 1, config.max_batch)


def render_results(model: LoadedModel, results: list[Result], batch_size: int, cancel, outputs_dir, stem: str,
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


def concept_embeds(model: LoadedModel, vision) -> tuple[list[str], np.ndarray]:
    """The curated concept phrases (explorer.concepts) as CLIP text embeddings, computed once per vision model."""
    vocabulary = builtin_vocabulary(model)
    return vision.concept_embeds.get(vocabulary.hash,
                                     lambda: (list(vocabulary.entries), vision.text_embeds(list(vocabulary.entries))))


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
    index = ConceptIndex.for_model(model, config=config)
    vector = encode_pooled(model, [query])[0].numpy()
    return [(n.label, n.category, n.score) for n in index.nearest(vector, k=min(k, len(index) - 1),
                                                                  exclude=[query])]


# ----------------------------------------------------------------------------------------------
# search and "more like this"
def search(model: LoadedModel, base: Recipe, n: int, *, vision=None, rank: bool = True,
           related: int = RELATED_SEARCHES, batch_size: int | None = None, cancel: threading.Event | None = None,
           on_results: Callable[[list[Result]], None] | None = None, outputs_dir: Path | None = None,
           config: ExplorerConfig | None = None, annotate: Annotator | None = None) -> SearchPage:
    """N results for one prompt: seeds base.seed, base.seed + 1, ...; ranked by CLIP when a vision model is given.

    `annotate(model, prompt, images)` adds notes of the caller's to the page (the UI and the CLI pass the archive's
    training-set gaps, explorer.archive.gaps.gap_notes); search itself knows no archive.
    """
    config = config or ExplorerConfig()
    # 1. validate
    validate(base, config)
    check_budget(base, model, config)
    n = check_count("seeds", n, config)
    if base.seed + n > SEED_MAX:
        raise InputError("seed", say("explore.search.first_seed", max=SEED_MAX - n, n=n), base.seed)
    batch_size = batch_size_for(model, base, batch_size, config)
    related = check_int("related", related, 0, 32)
    # 2. render, saving each result as its batch finishes
    results = [Result(base.with_(seed=base.seed + i, origin=Origin("search", query=base.prompt, rank=i)))
               for i in range(n)]
    cancelled = render_results(model, results, batch_size, cancel, outputs_dir, "search", on_results)
    page = SearchPage(base.prompt, [r for r in results if r.image is not None], cancelled=cancelled)
    # 3. describe and rank
    describe_results(model, page.results, strip_prefix(base.prompt), vision)
    if vision is not None and rank:
        page.results.sort(key=lambda r: -(r.score or 0.0))
        page.ranked = True
    if vision is None:
        page.notes.append(say("explore.search.no_vision"))
    # 4. the caller's notes (a model with a training-set archive: what it holds of the prompt, how many results show it)
    if annotate is not None:
        page.notes += annotate(model, strip_prefix(base.prompt), [r.image for r in page.results])
    if related:
        page.related = related_searches(model, strip_prefix(base.prompt), related, config)
    return page


def variation_recipes(source: Recipe, n: int, strength: float, first_seed: int) -> list[Recipe]:
    """N recipes whose noise is the source's noise slerped toward fresh seeds at `strength`."""
    recipes = []
    source = source.with_(origin=None)
    for i in range(n):
        fresh = (first_seed + i) % SEED_MAX
        if source.variation_seed is None or source.variation_strength == 0:
            # A1111's own slerp, so the PNG's "Variation seed" makes the same noise in AUTOMATIC1111
            recipes.append(source.with_(variation_seed=fresh, variation_strength=strength, variation_slerp="a1111"))
        else:       # a variation of a variation: chained (noise = slerp(source noise, fresh))
            recipes.append(source.with_(variations=source.variations + (Variation(fresh, strength),)))
    return recipes


def more_like_this(model: LoadedModel, source: Recipe, n: int, strength: float, first_seed: int, *,
                   vision=None, batch_size: int | None = None, cancel: threading.Event | None = None,
                   on_results: Callable[[list[Result]], None] | None = None, outputs_dir: Path | None = None,
                   config: ExplorerConfig | None = None) -> SearchPage:
    """Variations around one result: its initial noise slerped toward N fresh seeds at `strength`."""
    config = config or ExplorerConfig()
    # 1. validate
    validate(source, config)
    check_budget(source, model, config)
    n = check_count("seeds", n, config)
    strength = check_float("strength", strength, 0.0, 1.0)
    first_seed = check_int("first_seed", first_seed, 0, SEED_MAX - 1)
    batch_size = batch_size_for(model, source, batch_size, config)
    # 2. render and describe
    results = [Result(r) for r in variation_recipes(source, n, strength, first_seed)]
    cancelled = render_results(model, results, batch_size, cancel, outputs_dir, "variation", on_results)
    page = SearchPage(source.prompt, [r for r in results if r.image is not None], cancelled=cancelled)
    describe_results(model, page.results, strip_prefix(source.prompt), vision)
    return page
