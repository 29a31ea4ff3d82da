"""latent-explorer: `python app.py` opens the UI at http://127.0.0.1:7860 (see --help).

`demo` is built at module level, so Hugging Face Spaces and tests can import it.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from explorer.config import ExplorerConfig
from explorer.models.loading import load_model
from explorer.models.presets import DEFAULT_MODEL, PRESETS
from explorer.ui.app import build_demo, launch_kwargs


def parse_args(argv: list[str] | None = None) -> ExplorerConfig:
    parser = argparse.ArgumentParser(description="latent-explorer: walk the latent space of Stable Diffusion.")
    parser.add_argument("--model", default=os.environ.get("LATENT_EXPLORER_MODEL", DEFAULT_MODEL),
                        help=f"preset ({', '.join(PRESETS)}), Hugging Face id or local diffusers folder")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--dtype", default=None, help="float32, float16 or bfloat16 (default: by device)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="open a public gradio.live link (opt-in)")
    parser.add_argument("--outputs", default="outputs", help="folder for saved images (never overwritten)")
    parser.add_argument("--vocabulary", action="append", default=[], metavar="PATH",
                        help="a concept list (assets/concepts format) shared with every user; repeat for several. "
                             "Lists users upload stay theirs alone")
    args = parser.parse_args(argv)
    return ExplorerConfig(model=args.model, device=args.device, dtype=args.dtype, host=args.host, port=args.port,
                          share=args.share, outputs_dir=Path(args.outputs),
                          shared_vocabularies=tuple(Path(p) for p in args.vocabulary))


def create_demo(config: ExplorerConfig):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    model = load_model(config.model, config.device, config.dtype)
    return build_demo(model, config)


if __name__ == "__main__":
    CONFIG = parse_args()
    demo = create_demo(CONFIG)
    demo.launch(**launch_kwargs(CONFIG))
else:
    CONFIG = parse_args([])
    demo = create_demo(CONFIG)
