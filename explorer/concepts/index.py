"""The concept index: every entry of a vocabulary as its pooled text embedding, cached on disk.

The index encodes a vocabulary once per (model, vocabulary) with the text encoder's pooled
output (dynamic padding: CLIP's causal mask makes it equal to the 77-padded one), keeps the
unit-normalised vectors, and answers nearest-neighbour queries by cosine similarity.

    index = ConceptIndex.for_model(model)                 # builds or loads assets/concepts
    index.nearest(encode_pooled(model, ["a red fox"])[0], k=5)
"""
from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from explorer.cache import weights_fingerprint, write_atomic
from explorer.concepts.vocabularies import BUILTIN, Vocabulary, normalise_entry, resolve_vocabulary
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.messages import is_keyed, joined, say
from explorer.text.encoding import encode_pooled

log = logging.getLogger(__name__)

ENCODE_CHUNK = 256                                 # entries per progress update (and per text-lock hold)
CACHE_FORMAT = 1                                   # bump when the .npz layout changes
HALF_MIN_ENTRIES = 4096                             # from this size, nearest() scores in float16 first
HALF_MARGIN = 4e-3                                  # bound on |float16 - float32| cosine (measured max 1e-4)

Progress = Callable[[int, int], None]              # progress(done, total)


# ---------------------------------------------------------------- the index

@dataclass
class Neighbor:
    """One nearby concept: its phrase, its category, and the cosine similarity to the query."""

    label: str
    category: str
    score: float
    index: int = -1          # row in the index's embeddings


@dataclass
class ConceptIndex:
    """Unit-normalised pooled embeddings (N, d) float32 of a vocabulary, for cosine nearest neighbours."""

    vocabulary: Vocabulary
    embeddings: np.ndarray                     # (N, d) float32, every row of norm 1
    model_key: str = ""                        # the model's cache folder name
    path: Path | None = None                   # the cache file it came from or went to
    note: str = ""                             # what happened on load ("built in 3.1 s", "cache was corrupt: rebuilt")
    _keys: dict = field(default_factory=dict, repr=False)   # normalised label -> row
    _half: object = field(default=None, repr=False)        # float16 copy for the fast first pass (torch)

    def __post_init__(self):
        self._keys = {normalise_entry(e): i for i, e in enumerate(self.vocabulary.entries)}

    def __len__(self) -> int:
        return len(self.vocabulary)

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    # 1. build or load ------------------------------------------------------
    @classmethod
    def for_model(cls, model, vocabulary: str | Vocabulary = BUILTIN, cache_dir: str | Path | None = None,
                  progress: Progress | None = None, config: ExplorerConfig | None = None) -> "ConceptIndex":
        """The model's index of a vocabulary: from memory, else from the disk cache, else built (and cached)."""
        config = config or ExplorerConfig()
        vocab = resolve_vocabulary(model, vocabulary)
        cache_dir = Path(cache_dir) if cache_dir is not None else Path(config.cache_dir)
        with model.index_lock:                     # one build per model at a time (warm-up vs. a request)
            key = (vocab.hash, vocab.name, str(cache_dir))
            if key in model.concept_indexes:
                return model.concept_indexes.peek(key)
            vocab.check(config.max_vocabulary)
            model_key = model_cache_key(model)
            path = cache_dir / model_key / f"{vocab.hash[:24]}.npz"
            index, problem = read_cache(path, vocab, model_key) if vocab.cache else (None, "")
            if index is None:
                started = time.perf_counter()
                model.index_build = (vocab.name, 0, len(vocab))       # seen by callers waiting for the lock

                def report(done: int, total: int) -> None:
                    model.index_build = (vocab.name, done, total)
                    if progress is not None:
                        progress(done, total)

                try:
                    vectors = encode_vocabulary(model, vocab.entries, report if progress is not None else None)
                finally:
                    model.index_build = None
                index = cls(vocab, vectors, model_key, path)
                saved = write_cache(path, index) if vocab.cache else None
                encoded = say("concepts.index.encoded", n=len(vocab), name=vocab.name,
                              seconds=time.perf_counter() - started)
                cached = {True: say("concepts.cache.saved"), False: say("concepts.cache.not_writable"),
                          None: say("concepts.cache.in_memory")}[saved]
                index.note = joined("", [problem + " " if problem else "", encoded, cached])
                if problem:
                    log.warning(index.note)
            model.concept_indexes.put(key, index)
            return index

    # 2. query ----------------------------------------------------------------
    def similarities(self, vectors) -> np.ndarray:
        """Cosine similarity of each query to every entry: (n, N) for (n, d) or (d,) queries."""
        return self._checked_queries(vectors) @ self.embeddings.T               # (n, N)

    def _checked_queries(self, vectors) -> np.ndarray:
        """Queries as unit rows (n, d); zero or non-finite vectors are refused."""
        queries = _as_matrix(vectors, self.dim)                                 # (n, d)
        norms = np.linalg.norm(queries, axis=1, keepdims=True)
        if np.any(norms == 0) or not np.all(np.isfinite(queries)):
            raise InputError("vectors", say("concepts.allowed.query_vectors"), say("concepts.received.zero_vector"))
        return queries / norms

    def nearest(self, vectors, k: int = 10, exclude: Iterable[str] = ()) -> list[Neighbor] | list[list[Neighbor]]:
        """The k entries most cosine-similar to each query, best first.

        (d,) or (1, d) -> list[Neighbor]; (n, d) with n > 1 -> one list per query. Labels in
        `exclude` (compared case- and space-insensitively) are skipped.
        """
        queries = self._checked_queries(vectors)
        skip = np.array(sorted({self._keys[k_] for k_ in map(normalise_entry, exclude) if k_ in self._keys}),
                        dtype=np.int64)
        room = len(self) - len(skip)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= room:
            name = self.vocabulary.name
            raise InputError("k", say("concepts.allowed.k_vocabulary_excluded", room=room, name=name, n=len(self),
                                      excluded=len(skip)) if len(skip) else
                             say("concepts.allowed.k_vocabulary", room=room, name=name, n=len(self)), k)
        results = []
        for query in queries:
            top, row_scores = self._top_k(query, k, skip)
            results.append([Neighbor(self.vocabulary.entries[j], self.vocabulary.categories[j], float(row_scores[i]),
                                     int(j)) for i, j in enumerate(top)])
        return results[0] if len(results) == 1 else results

    def _top_k(self, query: np.ndarray, k: int, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k by cosine for one query: (indices best first, their float32 scores).

        Large indexes are first scored in float16 (half the memory traffic, the bound of a
        matrix-vector product) and only the candidates within 2 * HALF_MARGIN of the k-th float16
        score are re-scored in float32. Since every float16 score is within HALF_MARGIN of its float32
        value (inputs rounded to 2^-11 relative, unit vectors, float32 accumulation), no entry outside
        the candidates can belong to the exact top k.
        """
        if len(self) < HALF_MIN_ENTRIES:
            candidates = np.arange(len(self))
        else:
            if self._half is None:
                self._half = torch.from_numpy(self.embeddings.astype(np.float16))
            rough = torch.mv(self._half, torch.from_numpy(query.astype(np.float16))).numpy().astype(np.float32)
            if len(skip):
                rough[skip] = -np.inf
            kth = np.partition(rough, len(rough) - k)[len(rough) - k]
            candidates = np.flatnonzero(rough >= kth - 2 * HALF_MARGIN)
        scores = self.embeddings[candidates] @ query                          # (c,) float32
        if len(skip):
            scores[np.isin(candidates, skip)] = -np.inf
        best = np.argsort(-scores, kind="stable")[:k]
        return candidates[best], scores[best]


def building_progress(model) -> tuple[str, int, int] | None:
    """(vocabulary name, done, total) while an index of this model is being encoded, else None."""
    return model.index_build


def _as_matrix(vectors, dim: int) -> np.ndarray:
    if isinstance(vectors, torch.Tensor):
        vectors = vectors.detach().float().cpu().numpy()
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != dim or array.shape[0] == 0:
        raise InputError("vectors", say("concepts.allowed.pooled_shape", d=dim),
                         say("concepts.received.shape", shape=str(tuple(array.shape))))
    return array


@torch.no_grad()
def encode_vocabulary(model, entries: list[str], progress: Progress | None = None,
                      chunk: int = ENCODE_CHUNK) -> np.ndarray:
    """Unit-normalised pooled embeddings (N, d) float32, shortest entries first so padding stays small."""
    order = sorted(range(len(entries)), key=lambda i: (len(entries[i]), i))   # similar lengths batch together
    bar = None
    if progress is None:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(entries), desc="encoding concepts", unit="entry", leave=False, disable=None)
    parts = []
    for start in range(0, len(order), chunk):
        batch = [entries[i] for i in order[start:start + chunk]]
        with model.text_lock:                                    # the pipeline's encoder, one user at a time
            parts.append(encode_pooled(model, batch).numpy())
        done = min(start + chunk, len(order))
        if progress is not None:
            progress(done, len(order))
        elif bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    pooled = np.concatenate(parts).astype(np.float32)                          # (N, d) in length order
    vectors = np.empty_like(pooled)
    vectors[np.asarray(order)] = pooled
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def model_cache_key(model) -> str:
    """Folder name of a model's indexes: its name plus a fingerprint of the pooled text encoder's weights."""
    return weights_fingerprint(model.name, list(model.adapter.pooled_encoder(model.pipe).state_dict().items()))


def read_cache(path: Path, vocab: Vocabulary, model_key: str) -> tuple[ConceptIndex | None, str]:
    """The cached index, or (None, why it could not be used: '' when there is none)."""
    if not path.is_file():
        return None, ""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            vectors = np.ascontiguousarray(data["embeddings"], dtype=np.float32)
        if meta.get("format") != CACHE_FORMAT or meta.get("vocabulary_hash") != vocab.hash:
            raise ValueError(say("concepts.index.other_vocabulary"))
        if vectors.ndim != 2 or vectors.shape[0] != len(vocab) or not np.all(np.isfinite(vectors)):
            raise ValueError(say("concepts.index.bad_embeddings", shape=vectors.shape))
    except Exception as error:  # noqa: BLE001 - any unreadable file (zip, pickle, json, shape) is rebuilt
        return None, say("concepts.index.unreadable", file=path.name, error=why(error))
    index = ConceptIndex(vocab, vectors, model_key, path,
                         note=say("concepts.index.loaded", n=len(vocab), name=vocab.name))
    return index, ""


def why(error: Exception) -> str:
    """'ValueError: what was wrong' for a note, the message kept keyed where it is one."""
    said = error.args[0] if len(error.args) == 1 and is_keyed(error.args[0]) else str(error)
    return type(error).__name__ + ": " + said


def write_cache(path: Path, index: ConceptIndex) -> bool:
    """Write atomically (temp file, then rename) so a crash never leaves a half-written cache."""
    meta = json.dumps({"format": CACHE_FORMAT, "vocabulary_hash": index.vocabulary.hash,
                       "vocabulary_name": index.vocabulary.name, "model": index.model_key,
                       "entries": len(index), "dim": index.dim})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, embeddings=index.embeddings, meta=np.array(meta))
        write_atomic(path, buffer.getvalue())
        return True
    except OSError as error:
        log.warning("could not write the concept index cache %s: %s", path, error)
        return False
