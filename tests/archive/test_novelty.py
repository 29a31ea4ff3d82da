"""The novelty math on analytic cases: nearest-other-image distances, duplicates, the ratio and its share."""
from __future__ import annotations

import math

import numpy as np

from explorer.archive.novelty import NOTE, nearest_other_distances, novelty, sample_rows


def _unit_angles(degrees) -> np.ndarray:
    """Unit vectors in the plane at the given angles: cosine distances are 1 - cos(angle difference)."""
    radians = np.radians(np.asarray(degrees, np.float64))
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def test_sample_is_fixed_sorted_and_whole_when_small():
    assert sample_rows(5, 10).tolist() == [0, 1, 2, 3, 4]
    a, b = sample_rows(10_000, 100), sample_rows(10_000, 100)
    assert np.array_equal(a, b) and len(set(a.tolist())) == 100 and np.all(np.diff(a) > 0)


def test_nearest_other_distances_skip_the_row_itself_and_its_copies():
    points = _unit_angles([0, 0, 10, 40, 100])            # rows 0 and 1 are copies of each other
    rows = np.arange(5)
    got = nearest_other_distances(points, rows, chunk=2)  # several passes give the same as one
    expected = 1 - np.cos(np.radians([10, 10, 10, 30, 60]))
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert math.isnan(nearest_other_distances(_unit_angles([5, 5]), np.arange(2))[0])   # copies only


def test_ratio_and_share_against_the_archive_scale():
    reference = np.array([0.1, 0.2, 0.3, 0.4, np.nan], np.float32)   # NaN (no neighbour) is left out
    figure = novelty(0.15, reference)
    assert figure.sample == 4
    assert math.isclose(figure.typical, 0.25, rel_tol=1e-6) and math.isclose(figure.ratio, 0.6, rel_tol=1e-6)
    assert math.isclose(figure.closer_share, 0.25)                   # one of four neighbours is at most 0.15 away
    assert novelty(0.5, np.array([0.5, 0.5], np.float32)).closer_share == 1.0    # equal counts: <= distance
    assert novelty(-1e-7, reference).distance == 0.0                 # float error is not a negative distance
    far = novelty(1.0, reference)
    assert far.ratio == 4.0 and far.closer_share == 1.0
    assert "ratio is 4.00" in far.sentence and NOTE in far.sentence
    assert set(far.to_dict()) == {"distance", "typical", "ratio", "closer_share", "sample", "sentence"}


def test_no_scale_without_neighbours_is_said_not_invented():
    figure = novelty(0.2, np.array([np.nan], np.float32))
    assert figure.ratio is None and figure.typical is None and figure.closer_share is None
    assert "no spacing of its own" in figure.sentence and NOTE in figure.sentence
