"""Fixtures of the archive tests: miniworld with a small slice of its training set indexed once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

from explorer.models.presets import MINIWORLD_DIR

LIMIT = 1000                 # training images indexed in tests (all 20,000: 30-60 s on 2 free cores)

needs_miniworld = pytest.mark.skipif(not (MINIWORLD_DIR / "training.json").is_file(),
                                     reason="assets/miniworld not trained yet")


@pytest.fixture(scope="session")
def archive_cache(tmp_path_factory) -> Path:
    """One cache folder (XDG_CACHE_HOME) for every archive test: the CLI reuses the fixture's index."""
    return tmp_path_factory.mktemp("xdg")


@pytest.fixture(scope="session")
def archive_config(archive_cache):
    from explorer.config import ExplorerConfig

    return ExplorerConfig(model="miniworld", cache_dir=archive_cache / "latent-explorer")


@pytest.fixture(scope="session")
def training_archive(miniworld, archive_config):
    """(index, vision) of the first LIMIT training images of miniworld."""
    from explorer.archive.retrieval import open_archive

    return open_archive(miniworld, None, archive_config, limit=LIMIT)
