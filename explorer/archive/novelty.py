"""How near a picture lies to an archive, against how near the archive's images lie to one another.

The question "is this generated picture one the model has seen?" is usually asked with nearest
neighbours in an image-feature space: Somepalli et al. 2023 ("Diffusion Art or Digital Forgery?",
CVPR) retrieve each generation's most similar training images with copy-detection (SSCD) and other
features; Carlini et al. 2023 ("Extracting Training Data from Diffusion Models", USENIX Security)
judge a generation by its distance to the nearest training image *relative to* distances to other
training images. The figure here is in that spirit, not either paper's measure:

    ratio = d(query, nearest archive image) / median over archive images x of d(x, nearest other image)

with d the cosine distance 1 - cos of CLIP image embeddings; the median is taken on a fixed sample
of the archive, and exact duplicates (d < DUPLICATE_DISTANCE) do not count as anyone's neighbour, so
an archive with copies still has a scale. A small ratio says CLIP sees the picture as close to an
archive image as archive images are to each other; it says nothing about where the picture came from.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explorer.messages import say

REFERENCE_SAMPLE = 2000            # archive images whose nearest-neighbour distance sets the scale
DUPLICATE_DISTANCE = 1e-6          # cosine distances below this are the same picture (copies, float error)
ROWS_PER_PASS = 256                # sample rows scored against the whole archive at once (memory bound)
SAMPLE_SEED = 0                    # the sample is the same for the same archive size

NOTE = say("archive.novelty.caveat")   # nearness, not provenance: what the figure cannot say


@dataclass
class Novelty:
    """A picture's distance to an archive, on the archive's own scale."""

    distance: float                  # cosine distance to the nearest archive image, in [0, 2]
    typical: float | None            # median nearest-other-image distance within the archive (None: no scale)
    ratio: float | None              # distance / typical
    closer_share: float | None       # share of sampled archive images whose nearest other image is <= distance
    sample: int                      # archive images in the reference sample
    sentence: str                    # the figure in words, with NOTE

    def to_dict(self) -> dict:
        rounded = {k: None if v is None else round(float(v), 4)
                   for k, v in (("distance", self.distance), ("typical", self.typical), ("ratio", self.ratio),
                                ("closer_share", self.closer_share))}
        return {**rounded, "sample": self.sample, "sentence": self.sentence}


def sample_rows(n: int, size: int = REFERENCE_SAMPLE, seed: int = SAMPLE_SEED) -> np.ndarray:
    """A fixed sample of min(n, size) row indices out of n, sorted."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def nearest_other_distances(embeddings: np.ndarray, rows: np.ndarray, chunk: int = ROWS_PER_PASS) -> np.ndarray:
    """Cosine distance of each row in `rows` to its nearest other, non-duplicate row of embeddings (N, d), unit.

    NaN where a row has no such neighbour (a one-image archive, or nothing but copies of itself).
    """
    distances = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), chunk):
        picked = rows[start:start + chunk]
        cos = embeddings[picked] @ embeddings.T                              # (c, N)
        cos[cos > 1 - DUPLICATE_DISTANCE] = -np.inf                          # itself and its exact copies
        best = cos.max(axis=1)
        distances[start:start + chunk] = np.where(np.isfinite(best), 1 - best, np.nan)
    return distances


def novelty(distance: float, reference: np.ndarray) -> Novelty:
    """The picture's nearest-archive distance against the archive's nearest-neighbour distances `reference`."""
    distance = max(0.0, float(distance))                                    # float error can give -1e-7
    spacing = np.sort(reference[np.isfinite(reference)])
    if len(spacing) == 0:
        return Novelty(distance, None, None, None, len(spacing),
                       say("archive.novelty.no_spacing", distance=distance) + " " + NOTE)
    typical = float(np.median(spacing))
    ratio = distance / typical
    closer = float(np.searchsorted(spacing, distance, side="right") / len(spacing))
    return Novelty(distance, typical, ratio, closer, len(spacing), describe(distance, typical, ratio, closer))


def describe(distance: float, typical: float, ratio: float, closer: float) -> str:
    """The figure in one sentence, then the caveat."""
    return say("archive.novelty.ratio", distance=distance, typical=typical, ratio=ratio, closer=closer) + " " + NOTE
