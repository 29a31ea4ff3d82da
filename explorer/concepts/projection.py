"""Maps of the embedding space: the k concepts nearest to some query points, projected to 2-D.

`ConceptMap` is an estimator (as umap-learn and scikit-learn write them): explicit `random_state`,
`fit` once, `transform` new points into the same map, fitted state in trailing-underscore
attributes. Two methods:

- "umap" (McInnes, Healy & Melville 2018, arXiv:1802.03426) on cosine distance: keeps each point's
  nearest neighbours together (local structure); distances between far-apart clusters and the
  area of a cluster mean little.
- "pca": the plane of the two directions of largest variance: a linear, instant projection;
  keeps large-scale directions and straight lines straight (an interpolation path stays a
  line), but squashes the many other dimensions on top of each other.

umap-learn compiles its numba kernels on the first fit and again on the first transform
(~20 s and ~10 s on a 2-core CPU, see NOTES.md) in every new process unless they are cached on disk
(`umap_kernels`: once per machine): the app's `MapWarmup` does both in a background thread at start. Until the transform kernels are ready, new points are placed at the similarity-weighted
mean position of their nearest fitted points (UMAP's own transform starts from this placement).
"""
from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from explorer import workers
from explorer.concepts.index import ConceptIndex
from explorer.concepts.umap_kernels import cache_umap_kernels
from explorer.checks import check_int
from explorer.concepts.vocabularies import BUILTIN
from explorer.errors import InputError
from explorer.messages import say
from explorer.text import encoding
from explorer.text.arithmetic import evaluate
from explorer.text.phrases import is_expression, strip_prefix
from explorer.text.tokens import check_prompt_length
from explorer.text.vectors import lerp

log = logging.getLogger(__name__)

METHODS = ("umap", "pca")
KINDS = ("prompt", "result", "ingredient", "path", "image")     # kinds of query points
DEFAULT_K = 200              # nearby concepts in a map
UMAP_NEIGHBORS = 15          # umap's n_neighbors: the size of the neighbourhood it keeps
UMAP_MIN_DIST = 0.1          # umap's min_dist: how tightly points may pack
PLACE_NEIGHBORS = 8          # fitted points averaged when placing a new point without umap.transform
PLACE_SHARPNESS = 30.0       # weights exp(sharpness * cosine): the nearest dominate the placement
MIN_UMAP_POINTS = 5          # below this many points umap has no neighbourhood to keep: PCA is used

PROJECTION_NOTES = {"umap": say("concepts.map.umap_note"), "pca": say("concepts.map.pca_note")}   # what a map keeps


def unit_rows(x) -> np.ndarray:
    """Rows scaled to unit length (n, d) float32 (cosine geometry); zero rows stay zero."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=np.float32)
    x = x[None] if x.ndim == 1 else x
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


# ---------------------------------------------------------------- the background JIT warm-up

class MapWarmup:
    """The map's background warm-up, owned by the app (one per app, none for a one-off map such as the CLI's).

    `start()` warms the model's concept index and query path, then umap's numba JIT, in a daemon thread;
    `ready()` and `status()` say how far it is; `concept_map(..., warmup=)` waits for it briefly and draws with
    PCA until umap is ready. numba keeps compiled kernels for the whole process, so a second app's warm-up
    finds them compiled and finishes at once.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.started = self.model_done = self.fit_done = self.transform_done = None
        self.error: str = ""

    def start(self, model=None, config=None, block: bool = False) -> threading.Thread:
        """Warm the map in a daemon thread: the model's concept index and query path, then umap's numba JIT.

        umap's kernels are compiled once per process (fit, then transform, on a tiny random set); with
        a model, its built-in vocabulary index is loaded or built first, and one PCA map is drawn so the
        first real map finds the text encoder, the expression parser and plotly already warm.
        """
        _import_pandas()          # plotly and umap import pandas lazily: two threads importing it at once can break it
        with self.lock:
            if self.thread is None:
                self.started = time.perf_counter()
                self.thread = workers.start(self._warm, "map-warm-up", args=(model, config))
                thread = self.thread
            elif model is not None and not model.map_warm:
                thread = workers.start(self._warm_model, "map-warm-model", args=(model, config))
            else:
                thread = self.thread
        if block:
            thread.join()
            self.thread.join()
        return thread

    def ready(self, transform: bool = False) -> bool:
        """Whether this warm-up has compiled umap's fit (or transform) kernels."""
        return (self.transform_done if transform else self.fit_done) is not None

    def wait(self, seconds: float) -> None:
        """Wait up to `seconds` for the warm-up to finish (at once where none started)."""
        if self.thread is not None and seconds > 0:
            self.thread.join(seconds)

    def running(self) -> bool:
        """Started, not failed, and umap's fit kernels not yet compiled."""
        return self.thread is not None and not self.ready() and not self.error

    def status(self) -> str:
        """One line for the UI about the warm-up (a keyed message)."""
        if self.started is None:
            return say("map.warmup.cold")
        if self.error:
            return say("map.warmup.failed", error=self.error)
        if self.transform_done is not None:
            return say("map.warmup.ready")
        if self.fit_done is not None:
            return say("map.warmup.fit_ready")
        return say("map.warmup.compiling", s=time.perf_counter() - self.started)

    def _warm_model(self, model, config) -> None:
        try:
            model.map_warm = True
            index = ConceptIndex.for_model(model, BUILTIN, config=config, progress=lambda done, total: None)
            points = query_points(model, "a\n= a + b\na -> b", path_points=2)
            concept_map(index, points, k=min(20, len(index)), method="pca")
            self.model_done = time.perf_counter()
        except Exception as error:  # noqa: BLE001 - the first map builds it again and reports the error
            log.warning("warming the concept map of %s failed: %s", getattr(model, "name", model), error)

    def _warm(self, model, config) -> None:
        if model is not None:
            self._warm_model(model, config)
        try:
            x = np.random.default_rng(0).normal(size=(64, 16)).astype(np.float32)
            estimator = ConceptMap("umap", random_state=0).fit(x)
            self.fit_done = time.perf_counter()
            estimator._umap_transform(x[:2] + 0.01)
            self.transform_done = time.perf_counter()
            log.info("umap warm: fit kernels after %.1f s, transform after %.1f s", self.fit_done - self.started,
                     self.transform_done - self.started)
        except Exception as error:  # noqa: BLE001 - a failed warm-up only means the first map is slow
            self.error = f"{type(error).__name__}: {error}"
            log.warning("umap warm-up failed: %s", self.error)


def _import_pandas() -> None:
    try:
        import pandas  # noqa: F401
    except ImportError:
        pass


# ---------------------------------------------------------------- the estimator

class ConceptMap:
    """2-D map of unit-normalised embeddings by UMAP (cosine) or PCA: fit once, transform new points."""

    def __init__(self, method: str = "umap", n_neighbors: int = UMAP_NEIGHBORS, min_dist: float = UMAP_MIN_DIST,
                 random_state: int | None = 0, warmup: MapWarmup | None = None):
        if method not in METHODS:
            raise InputError("method", say("concepts.allowed.one_of", choices=", ".join(METHODS)), method)
        self.method, self.n_neighbors, self.min_dist, self.random_state = method, n_neighbors, min_dist, random_state
        self.warmup = warmup      # umap.transform places new points once this warm-up compiled its kernels

    def fit(self, x) -> "ConceptMap":
        """Fit the map to x (n, d); sets embedding_ (n, 2), train_ (n, d) and the method's state."""
        x = unit_rows(x)                                                      # (n, d)
        if len(x) < 2:
            raise InputError("points", say("concepts.allowed.some_points"), len(x))
        self.train_, self.n_features_in_ = x, x.shape[1]
        self.method_ = self.method if len(x) >= MIN_UMAP_POINTS else "pca"
        if self.method_ == "pca":
            self.mean_ = x.mean(axis=0)                                       # (d,)
            _, s, vt = np.linalg.svd(x - self.mean_, full_matrices=False)
            self.components_ = vt[:2]                                         # (<=2, d)
            self.explained_variance_ratio_ = (s[:2] ** 2) / max(float((s ** 2).sum()), 1e-12)
            self.embedding_ = self._pca(x)
        else:
            import umap

            cache_umap_kernels()                                              # compiled once per machine
            n = len(x)
            self.reducer_ = umap.UMAP(
                n_components=2, metric="cosine", n_neighbors=min(self.n_neighbors, n - 1), min_dist=self.min_dist,
                init="spectral" if n > 3 * self.n_neighbors else "random", random_state=self.random_state)
            with warnings.catch_warnings():                                   # "n_jobs overridden by random_state"
                warnings.simplefilter("ignore")
                self.embedding_ = np.asarray(self.reducer_.fit_transform(x), dtype=np.float32)
        return self

    def transform(self, y) -> np.ndarray:
        """Place new points (m, d) into the fitted map without refitting: (m, 2)."""
        if not hasattr(self, "embedding_"):
            raise InputError("map", say("concepts.allowed.fitted_map"), say("concepts.received.unfitted_map"))
        y = unit_rows(y)
        if y.shape[1] != self.n_features_in_:
            raise InputError("vectors", say("concepts.allowed.map_dimension", d=self.n_features_in_), y.shape[1])
        if self.method_ == "pca":
            self.placement_ = "pca"
            return self._pca(y)
        if self.warmup is not None and self.warmup.ready(transform=True) and len(self.train_) > self.n_neighbors:
            self.placement_ = "umap.transform"
            return self._umap_transform(y)
        self.placement_ = "neighbours"
        return self.place_by_neighbors(y @ self.train_.T)

    def place_by_neighbors(self, similarities: np.ndarray) -> np.ndarray:
        """(m, n) similarities to the fitted points -> (m, 2) positions (see place_by_similarity)."""
        return place_by_similarity(self.embedding_, similarities)

    def _pca(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), 2), dtype=np.float32)
        out[:, :self.components_.shape[0]] = (x - self.mean_) @ self.components_.T
        return out

    def _umap_transform(self, y: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(self.reducer_.transform(y), dtype=np.float32)


def place_by_similarity(coords: np.ndarray, similarities: np.ndarray, neighbours: int = PLACE_NEIGHBORS) -> np.ndarray:
    """Weighted mean map position of each query's most similar points: (n, 2), (m, n) -> (m, 2).

    Weights exp(PLACE_SHARPNESS * (s - s_max)) over the `neighbours` most similar points, the
    initialisation umap-learn's own transform starts from (a membership-weighted mean).
    """
    similarities = np.atleast_2d(np.asarray(similarities, dtype=np.float32))
    k = min(neighbours, similarities.shape[1])
    top = np.argpartition(-similarities, k - 1, axis=1)[:, :k]                    # (m, k)
    s = np.take_along_axis(similarities, top, axis=1)
    w = np.exp(PLACE_SHARPNESS * (s - s.max(axis=1, keepdims=True)))               # (m, k)
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("mk,mkc->mc", w, np.asarray(coords, dtype=np.float32)[top]).astype(np.float32)


# ---------------------------------------------------------------- query points and the map

@dataclass
class QueryPoint:
    """A point the user asked about: a pooled vector (d,), its label and kind (see KINDS)."""

    label: str
    vector: np.ndarray
    kind: str = "prompt"
    group: str = ""          # ingredients point to the result of their group; a group's path points form a line

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError("kind", say("concepts.allowed.one_of", choices=", ".join(KINDS)), self.kind)
        self.vector = unit_rows(self.vector)[0]


@dataclass
class MapResult:
    """Every point of a map: concepts first, then queries; coordinates from one fitted ConceptMap."""

    labels: list[str]
    kinds: list[str]                 # "concept" or a query kind
    categories: list[str]            # the concept's category, or the query kind
    groups: list[str]
    scores: np.ndarray               # (n,) cosine similarity to the nearest query point (1 for query points)
    coords: np.ndarray               # (n, 2)
    estimator: ConceptMap
    method: str                      # the method actually used ("pca" for tiny maps)
    seconds: float = 0.0             # time to fit
    notes: list[str] = field(default_factory=list)

    @property
    def n_concepts(self) -> int:
        return self.kinds.count("concept")

    def links(self) -> list[tuple[int, int]]:
        """(ingredient, result) index pairs for arrows."""
        results = {g: i for i, (k, g) in enumerate(zip(self.kinds, self.groups)) if k == "result"}
        return [(i, results[g]) for i, (k, g) in enumerate(zip(self.kinds, self.groups))
                if k == "ingredient" and g in results]

    def paths(self) -> dict[str, list[int]]:
        """group -> indices of its path points in order."""
        out: dict[str, list[int]] = {}
        for i, (k, g) in enumerate(zip(self.kinds, self.groups)):
            if k == "path":
                out.setdefault(g, []).append(i)
        return out

    def add(self, points: list[QueryPoint], coords: np.ndarray | None = None) -> "MapResult":
        """A copy with new query points placed into the same map (transform; no refit)."""
        if not points:
            return self
        placed = self.estimator.transform(np.stack([p.vector for p in points])) if coords is None else coords
        notes = list(self.notes)
        how = getattr(self.estimator, "placement_", "given positions")
        if coords is None and how == "neighbours":
            notes.append(say("concepts.map.placed_by_neighbours"))
        return MapResult(self.labels + [p.label for p in points], self.kinds + [p.kind for p in points],
                         self.categories + [p.kind for p in points], self.groups + [p.group for p in points],
                         np.concatenate([self.scores, np.ones(len(points), dtype=np.float32)]),
                         np.concatenate([self.coords, np.asarray(placed, dtype=np.float32)]), self.estimator,
                         self.method, self.seconds, notes)

    def records(self) -> list[dict]:
        """One dict per point (for JSON and tables)."""
        return [dict(label=l, kind=k, category=c, group=g, score=round(float(s), 4), x=round(float(x), 4),
                     y=round(float(y), 4))
                for l, k, c, g, s, (x, y) in zip(self.labels, self.kinds, self.categories, self.groups, self.scores,
                                                  self.coords)]


def check_k(k, index_size: int, limit: int) -> int:
    """k nearby concepts: an integer in [2, min(vocabulary size, limit)]."""
    top = min(index_size, limit)
    if top < 2:
        raise InputError("vocabulary", say("concepts.allowed.map_entries"),
                         say("concepts.received.entries", n=index_size))
    if isinstance(k, float) and k.is_integer():
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= top:
        raise InputError("k", say("concepts.allowed.k_map_size", top=top) if index_size <= limit else
                         say("concepts.allowed.k_map_limit", top=top), k)
    return int(k)


def concept_map(index, queries: list[QueryPoint], k: int = DEFAULT_K, method: str = "umap",
                random_state: int | None = 0, limit: int = 1000, wait_s: float = 0.0,
                warmup: MapWarmup | None = None) -> MapResult:
    """Map the k concepts nearest to the queries together with the queries themselves.

    The concepts are the k entries of `index` with the highest cosine similarity to any query
    point. With method "umap" while the app's background `warmup` has not finished (after waiting up
    to `wait_s`), the map is drawn with PCA and a note says so; without a warm-up umap compiles in the call.
    """
    # 1. validate
    if method not in METHODS:
        raise InputError("method", say("concepts.allowed.one_of", choices=", ".join(METHODS)), method)
    if not queries:
        raise InputError("queries", say("concepts.allowed.some_query"), say("concepts.received.none"))
    k = check_k(k, len(index), limit)
    q = np.stack([p.vector for p in queries])                                    # (m, d)
    if q.shape[1] != index.dim:
        raise InputError("queries", say("concepts.allowed.index_dimension", d=index.dim), q.shape[1])
    notes = []
    if method == "umap" and warmup is not None and not warmup.ready():
        warmup.wait(wait_s)
        if warmup.running():
            method = "pca"
            notes.append(warmup.status() + " " + say("map.warmup.uses_pca"))
    # 2. the k nearest concepts (by their best similarity to any query)
    best = index.similarities(q).max(axis=0)                                     # (N,)
    top = np.argpartition(-best, k - 1)[:k]
    top = top[np.argsort(-best[top])]
    # 3. fit concepts and queries together
    started = time.perf_counter()
    x = np.concatenate([index.embeddings[top], q])                               # (k + m, d)
    estimator = ConceptMap(method, random_state=random_state, warmup=warmup).fit(x)
    seconds = time.perf_counter() - started
    if estimator.method_ != method:
        notes.append(say("concepts.map.too_few", n=len(x)))
    # 4. collect labels, kinds and scores
    vocab = index.vocabulary
    return MapResult([vocab.entries[i] for i in top] + [p.label for p in queries],
                     ["concept"] * k + [p.kind for p in queries],
                     [vocab.categories[i] for i in top] + [p.kind for p in queries],
                     [""] * k + [p.group for p in queries],
                     np.concatenate([best[top], np.ones(len(queries))]).astype(np.float32),
                     estimator.embedding_, estimator, estimator.method_, seconds, notes)


# ---------------------------------------------------------------- query points from text

PATH_ARROWS = ("->", "→")       # "a -> b" on a query line: the interpolation path from a to b
DEFAULT_PATH_POINTS = 8         # points along a drawn interpolation path
MAX_PATH_POINTS = 32            # most points along one path
MAX_QUERY_LINES = 16            # query lines in one map


def pooled_of(model, text: str, field_name: str = "query") -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Pooled vector (d,) of a prompt or an "= expression", and the expression's ingredients [(phrase, (d,))]."""
    text = text.strip()
    if is_expression(text):
        result = evaluate(model, strip_prefix(text), space="conditioning")
        ingredients = [(phrase, encoding.pooled(model, phrase)[0].float().numpy())
                       for phrase in result.expression.phrases]
        return result.pooled[0].float().numpy(), ingredients
    if not text:
        raise InputError(field_name, say("concepts.allowed.non_empty_prompt"), text)
    check_prompt_length(model, text, field_name)
    return encoding.pooled(model, text)[0].float().numpy(), []


def query_texts(text: str) -> list[str]:
    """The texts the model reads in query lines, for the known-word check: a prompt or an "= expression" line
    as it is, a path "a -> b" as its two ends (the arrow and the points between are the map's syntax, not words)."""
    texts = []
    for line in (line.strip() for line in (text if isinstance(text, str) else "").splitlines()):
        arrow = next((a for a in PATH_ARROWS if a in line), None)
        texts += [end.strip() for end in line.split(arrow) if end.strip()] if arrow else [line] if line else []
    return texts


def query_points(model, text: str, path_points: int = DEFAULT_PATH_POINTS) -> list[QueryPoint]:
    """Parse query lines: a prompt, "= expression" (result + ingredients), or "a -> b" (a path of points)."""
    with model.text_lock:                   # the fast tokenizer's padding settings are shared state: one user at a time
        return _query_points(model, text, path_points)


def _query_points(model, text: str, path_points: int) -> list[QueryPoint]:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        raise InputError("query", say("concepts.allowed.query_lines"), text)
    if len(lines) > MAX_QUERY_LINES:
        raise InputError("query", say("concepts.allowed.max_lines", n=MAX_QUERY_LINES),
                         say("concepts.received.lines", n=len(lines)))
    path_points = check_int("path_points", path_points, 2, MAX_PATH_POINTS)
    points: list[QueryPoint] = []
    for line in lines:
        arrow = next((a for a in PATH_ARROWS if a in line), None)
        if arrow:
            ends = [part.strip() for part in line.split(arrow)]
            if len(ends) != 2 or not all(ends):
                raise InputError("query", say("concepts.allowed.path"), line)
            (a, _), (b, _) = pooled_of(model, ends[0]), pooled_of(model, ends[1])
            for t in np.linspace(0.0, 1.0, path_points):     # lerp, as the Interpolate tab walks embeddings
                label = ends[0] if t == 0 else ends[1] if t == 1 else f"{ends[0]} → {ends[1]} @ {t:.2f}"
                points.append(QueryPoint(label, lerp(a, b, float(t)), "path", group=line))
        elif is_expression(line):
            result, ingredients = pooled_of(model, line)
            points.append(QueryPoint(line, result, "result", group=line))
            points += [QueryPoint(phrase, vector, "ingredient", group=line) for phrase, vector in ingredients]
        else:
            points.append(QueryPoint(line, pooled_of(model, line)[0], "prompt", group=line))
    return points
