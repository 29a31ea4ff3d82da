"""Shared fixtures: the offline tiny-random model, and the app launched in-process for API tests."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")          # tests never reach the model hub
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# OpenMP threads that finish a torch operation sleep instead of spinning (GNU OpenMP's default: spin ~0.2 s). Read
# once, when torch loads its OpenMP library, so set here before any test imports torch (subprocesses inherit it). In
# the tests the model's threads share 2 cores with the app's server, its clients and Chromium: ten tiny-random
# generations took 308 s spinning and 34 s passive on this loaded 2-core machine. Results do not change.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Under `-n N` each worker takes its share of the cores for torch's threads (1 each with 2 workers on 2 cores), as
# torch would if it knew of the others: two workers of 2 threads each on 2 cores made miniworld's generations cost
# 44% more CPU (7.2 s against 5.0 s for three 20-step generations). Read when torch loads; subprocesses inherit it.
# One thread keeps a class's batches bit-identical to solo runs (generation/invariant.py groups the 1x1 convolutions
# too); the legacy PNGs are regenerated with the two threads they were made with (tests/generation/test_legacy_recipes.py).
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

import pytest  # noqa: E402

from tests import scheduling  # noqa: E402
from tests.servers import close_demo  # noqa: E402


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under `-n N` (xdist's `--dist load`): tests/scheduling.py's groups, a shared app built once."""
    if config.getvalue("dist") in ("load", "loadgroup"):
        return scheduling.make_scheduler(config, log)
    return None


def pytest_collection_modifyitems(config, items):
    """In an xdist worker, the files with slow tests first (every worker collects the same order)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items[:] = scheduling.slow_first(items)


@pytest.fixture(scope="session")
def tiny_model():
    """The built-in random miniature of SD (real diffusers/transformers classes), shared by all tests."""
    from explorer.models.loading import load_model

    model = load_model("tiny-random")
    model.pipe.set_progress_bar_config(disable=True)
    return model


@pytest.fixture(scope="session")
def tiny_xl():
    """The built-in random miniature of SDXL: two text encoders, pooled and size conditioning."""
    from explorer.models.loading import load_model

    model = load_model("tiny-random-xl")
    model.pipe.set_progress_bar_config(disable=True)
    return model


@pytest.fixture(scope="session")
def tiny_sd3():
    """The built-in random miniature of SD3: a flow-matching transformer, CLIP-L, CLIP-G and T5, a 16-channel VAE."""
    from explorer.models.loading import load_model

    model = load_model("tiny-random-sd3")
    model.pipe.set_progress_bar_config(disable=True)
    return model


@pytest.fixture(scope="session")
def tiny_flux():
    """The built-in random miniature of FLUX.1 (dev-like: guidance is an input): CLIP-L pooled, T5, packed latents."""
    from explorer.models.loading import load_model

    model = load_model("tiny-random-flux")
    model.pipe.set_progress_bar_config(disable=True)
    return model


@pytest.fixture(scope="session")
def miniworld():
    """The offline model this project trains and ships (assets/miniworld), loaded once and shared by every test that
    needs it (each load re-reads its weights); skipped where the weights are not in assets/."""
    from explorer.models.loading import load_model
    from explorer.models.presets import MINIWORLD_DIR

    if not (MINIWORLD_DIR / "model_index.json").is_file():
        pytest.skip("the miniworld weights are not in assets/")
    model = load_model("miniworld")
    model.pipe.set_progress_bar_config(disable=True)
    return model


@pytest.fixture(scope="session")
def miniworld_dit():
    """miniworld's world learnt by flow matching (assets/miniworld-dit, an SD3 folder without T5), loaded once and
    shared; skipped where the weights are not in assets/."""
    from explorer.models.loading import load_model
    from explorer.models.presets import MINIWORLD_DIT_DIR

    if not (MINIWORLD_DIT_DIR / "model_index.json").is_file():
        pytest.skip("the miniworld-dit weights are not in assets/")
    model = load_model("miniworld-dit")
    model.pipe.set_progress_bar_config(disable=True)
    return model


@pytest.fixture(scope="session")
def app_config(tmp_path_factory):
    from explorer.config import ExplorerConfig

    root = tmp_path_factory.mktemp("app")
    # every test's users come from 127.0.0.1, one client to the per-client limits: those are tested with addresses of
    # their own in tests/ui/test_clients.py
    return ExplorerConfig(model="tiny-random", outputs_dir=root / "outputs", cache_dir=root / "cache",
                          max_size=256, max_steps=50, max_queued_per_client=0, max_new_sessions_per_minute=0)


@pytest.fixture(scope="session")
def app_demo(tiny_model, app_config):
    """The whole app (every tab) launched in this process on a free localhost port (demo.explorer_context: its
    shared context, e.g. the batcher)."""
    from explorer.ui.app import build_demo, launch_kwargs

    demo = build_demo(tiny_model, app_config)
    settings = {**launch_kwargs(app_config, demo), "server_port": None}      # as app.py launches it, on a free port
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    yield demo
    close_demo(demo)


@pytest.fixture(scope="session")
def app_url(app_demo):
    """The URL of the launched app."""
    return app_demo.local_url


MINIWORLD_ARCHIVE = 500     # training images in the miniworld app's own archive (all 20,000: 45 s+ of 2 cores)


@pytest.fixture(scope="session")
def miniworld_url(miniworld, app_config):
    """The whole app on miniworld (its own archive: the first MINIWORLD_ARCHIVE training images, indexed in the
    background from the start as app.py does), launched once per session in this process."""
    from dataclasses import replace

    from explorer.ui.app import build_demo, launch_kwargs

    config = replace(app_config, max_archive_images=MINIWORLD_ARCHIVE)
    demo = build_demo(miniworld, config)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True,
                            **{**launch_kwargs(config, demo), "server_port": None})
    yield url
    close_demo(demo)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session's browser tests (Debian's, tests/ui/test_browser.py's flags)."""
    from playwright.sync_api import sync_playwright

    from tests.ui.test_browser import CHROMIUM, FLAGS         # skips where Debian's chromium is missing

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def connect():
    """connect(url): a new gradio_client session with an in-process app (one browser tab of one user).

    ssl_verify=False: the app is plain HTTP on localhost, and with verification on httpx builds an SSL context from
    the CA bundle (~0.15 s on 2 cores) for every output file the client downloads (dozens for one generation).
    A 120 s timeout instead of httpx's 5 s: on a loaded 2-core machine the server may take longer to accept a
    request or hand out a file while other users' requests run (what the tests time is asserted separately)."""
    from gradio_client import Client

    def connect(url: str, **kwargs) -> Client:
        kwargs.setdefault("httpx_kwargs", {"timeout": 120})
        return Client(url, verbose=False, ssl_verify=False, **kwargs)

    return connect


@pytest.fixture(scope="session")
def client(app_url, connect):
    """A gradio_client connected to the in-process app: the HTTP API as users call it."""
    return connect(app_url)


@pytest.fixture(scope="session")
def demo(tiny_model, app_config):
    """The whole app on tiny-random, built but not launched: tests call its handlers directly (tests/ui/handlers.py
    Request gives each test module sessions of its own)."""
    from explorer.ui.app import build_demo

    return build_demo(tiny_model, app_config)
