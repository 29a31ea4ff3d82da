"""`python -m explorer.ui.serve [options]`, what `latent-explorer ui` runs: the browser UI, as app.py starts it.

A pip install has no app.py; this module is app.py inside the package. As there, the options are read before
gradio is imported: gradio reads GRADIO_SERVER_PORT on import and fails with a traceback on a value that is not a
number, where explorer.ui.settings names the variable in one line.
"""
from __future__ import annotations

import logging
import os
import sys

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.ui.settings import ANALYTICS_VARIABLE, parse_args

PROG = "latent-explorer ui"

if __name__ == "__main__":
    try:
        CONFIG = parse_args(prog=PROG)
    except InputError as error:                  # a bad --port or GRADIO_SERVER_PORT: one line, exit 2
        print(f"{PROG}: error: {error}", file=sys.stderr)
        sys.exit(2)
    os.environ[ANALYTICS_VARIABLE] = "True" if CONFIG.analytics else "False"

from explorer.generation.deepcache import use_deepcache  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.ui.app import build_demo, launch_kwargs  # noqa: E402  (imports gradio)


def serve(config: ExplorerConfig) -> None:
    """Load the configured model, build the app and serve it until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model = load_model(config.model, config.device, config.dtype, low_memory=config.low_memory,
                       backend=config.backend, cache_dir=config.cache_dir, decoder=config.decoder)
    use_deepcache(model, config.deepcache)
    demo = build_demo(model, config)
    demo.launch(**launch_kwargs(config, demo))


if __name__ == "__main__":
    serve(CONFIG)
