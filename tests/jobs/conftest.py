"""Fixtures of the job tests: a local Ray cluster, shut down after each test module."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    yield ray
    ray.shutdown()
