"""latent-explorer: `python app.py` opens the UI at http://127.0.0.1:7860 (see --help).

Host and port: --host/--port, else gradio's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860.
`demo` is built at module level, so Hugging Face Spaces and tests can import it.
"""
from __future__ import annotations

import logging
import os
import sys

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.ui.settings import ANALYTICS_VARIABLE, parse_args

# the settings are read before gradio is imported: gradio itself reads GRADIO_SERVER_PORT on import
if __name__ == "__main__":
    try:
        CONFIG = parse_args()
    except InputError as error:                  # a bad --port or GRADIO_SERVER_PORT: one line, exit 2
        print(f"app.py: error: {error}", file=sys.stderr)
        sys.exit(2)
else:
    CONFIG = parse_args([])                      # imported (Spaces, tests): the environment's settings

# gradio's usage analytics stay off unless asked for (--analytics): gradio reads this variable when it reports
os.environ[ANALYTICS_VARIABLE] = "True" if CONFIG.analytics else "False"

from explorer.generation.deepcache import use_deepcache  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.ui.app import build_demo, launch_kwargs  # noqa: E402  (imports gradio)


def create_demo(config: ExplorerConfig):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model = load_model(config.model, config.device, config.dtype, low_memory=config.low_memory,
                       backend=config.backend, cache_dir=config.cache_dir, decoder=config.decoder)
    use_deepcache(model, config.deepcache)
    return build_demo(model, config)


demo = create_demo(CONFIG)
if __name__ == "__main__":
    demo.launch(**launch_kwargs(CONFIG, demo))
