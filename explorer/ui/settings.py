"""app.py's options: --host/--port, else gradio's GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860.

This module does not import gradio: gradio reads GRADIO_SERVER_PORT when it is imported and fails with a
traceback on a value that is not a number, so app.py checks the settings here first.
"""
from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from explorer.checks import check_max_size
from explorer.config import MAX_INDEX_IMAGES, ExplorerConfig
from explorer.errors import InputError
from explorer.messages import say
from explorer.generation.deepcache import MAX_INTERVAL
from explorer.models.backends import BACKENDS
from explorer.models.tiny_decoder import DECODERS
from explorer.models.presets import DEFAULT_MODEL, PRESETS

DEFAULT_HOST = "127.0.0.1"           # this machine only; 0.0.0.0 only when asked for
DEFAULT_PORT = 7860
HOST_VARIABLE = "GRADIO_SERVER_NAME"   # gradio's own variables, as Hugging Face Spaces and Docker images set them
PORT_VARIABLE = "GRADIO_SERVER_PORT"
MODEL_VARIABLE = "LATENT_EXPLORER_MODEL"
ANALYTICS_VARIABLE = "GRADIO_ANALYTICS_ENABLED"     # gradio's own: "True" asks for analytics like --analytics
CLASS_CODE_VARIABLE = "LATENT_EXPLORER_CLASS_CODE"   # the class code from the environment (a Space's secret)
MAX_CLASS_CODE_CHARS = 200            # a class code is typed by students: short
LANGUAGES = ("en", "de")              # the UI's languages: assets/i18n/<lang>.json (explorer.ui.i18n)


def add_speed_args(parser: argparse.ArgumentParser) -> None:
    """--backend, --decoder and --deepcache: the CPU classroom's speed-ups (models.backends, models.tiny_decoder,
    generation.deepcache)."""
    parser.add_argument("--backend", default="torch", choices=BACKENDS,
                        help="where the UNet and decoder run: torch (bit-identical to diffusers) or openvino (faster)")
    parser.add_argument("--decoder", default="full", choices=DECODERS,
                        help="the final image's decoder: full (the VAE) or tiny (TAESD/TAESDXL, for turbo models)")
    parser.add_argument("--deepcache", type=int, default=0, metavar="N",
                        help=f"DeepCache: the UNet in full every N steps, deep features reused between "
                             f"(2..{MAX_INTERVAL}; 0: off)")


def argument_parser(prog: str = "app.py") -> argparse.ArgumentParser:
    """`python app.py` options (also `latent-explorer ui`'s); host and port default to gradio's variables, then to
    127.0.0.1:7860."""
    parser = argparse.ArgumentParser(prog=prog,
                                     description="latent-explorer: walk the latent space of Stable Diffusion.")
    parser.add_argument("--model", default=None,
                        help=f"preset ({', '.join(PRESETS)}), Hugging Face id or local diffusers folder "
                             f"(default: ${MODEL_VARIABLE}, else {DEFAULT_MODEL})")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--dtype", default=None, help="float32, float16 or bfloat16 (default: by device)")
    parser.add_argument("--low-memory", action="store_true",
                        help="for SDXL on small machines: model CPU offload on CUDA, VAE slicing and tiling")
    add_speed_args(parser)
    parser.add_argument("--host", default=None,
                        help=f"bind address (default: ${HOST_VARIABLE}, else {DEFAULT_HOST}: this machine only)")
    parser.add_argument("--port", default=None,
                        help=f"HTTP port, 1-65535 (default: ${PORT_VARIABLE}, else {DEFAULT_PORT})")
    parser.add_argument("--share", action="store_true", help="open a public gradio.live link (opt-in)")
    parser.add_argument("--lang", default=None,
                        help=f"the UI's language for every browser: {' or '.join(LANGUAGES)} (default: each "
                             "browser's own, German or English)")
    parser.add_argument("--outputs", default="outputs", help="folder for saved images (never overwritten)")
    parser.add_argument("--max-size", type=int, default=ExplorerConfig.max_size, metavar="PIXELS",
                        help=f"the largest width or height a request may ask for (default {ExplorerConfig.max_size}, "
                             "SDXL's sizes such as 832x1216 included; at most 4096); the time limit of one request "
                             "still refuses what would take too long")
    parser.add_argument("--vocabulary", action="append", default=[], metavar="PATH",
                        help="a concept list (assets/concepts format) shared with every user; repeat for several. "
                             "Lists users upload stay theirs alone")
    parser.add_argument("--archive-root", action="append", default=[], metavar="DIR",
                        help="a folder (and its subfolders) of images users may search as an archive; repeat for "
                             "several. Without it, only the model's own archive (miniworld: its training set)")
    parser.add_argument("--max-archive-images", type=int, default=ExplorerConfig.max_archive_images, metavar="N",
                        help=f"the most images one archive may hold (default {ExplorerConfig.max_archive_images:,}; "
                             "search is exact, 3 KB of memory per image; build a large index first with "
                             "python -m explorer index-job)")
    parser.add_argument("--classroom-batch", type=int, default=8, metavar="N",
                        help="Generate requests of different users that share settings run through the model together, "
                             "N at most (default 8; 1 runs them one after another)")
    parser.add_argument("--class-code", default=None, metavar="CODE",
                        help="a code the teacher gives the class: the page asks for it (any name, the code as the "
                             f"password) and so does the API (default: ${CLASS_CODE_VARIABLE}, else none)")
    parser.add_argument("--trust-proxy", action="store_true",
                        help="behind your own reverse proxy only: each client is the last address in the "
                             "X-Forwarded-For header your proxy adds (default: the connection's address)")
    parser.add_argument("--max-queued-per-client", type=int, default=ExplorerConfig.max_queued_per_client,
                        metavar="N", help="requests one address may have waiting or running at once (default "
                                          f"{ExplorerConfig.max_queued_per_client}; 0: no limit; a class behind one "
                                          "NAT address is one client)")
    parser.add_argument("--max-new-sessions-per-minute", type=int,
                        default=ExplorerConfig.max_new_sessions_per_minute, metavar="N",
                        help="page loads and API sessions one address may open per minute (default "
                             f"{ExplorerConfig.max_new_sessions_per_minute}; 0: no limit)")
    parser.add_argument("--monitoring", action="store_true",
                        help="turn on gradio's /monitoring dashboard and /monitoring/summary (every endpoint's "
                             "request counts; readable by anyone who can open the page): off by default")
    parser.add_argument("--analytics", action="store_true",
                        help="send gradio's usage analytics to its makers (off by default)")
    return parser


def _port(source: str, value) -> int:
    """A TCP port: an integer in [1, 65535]; the error names where it came from (--port or the variable)."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise InputError(source, say("ui_app.allowed.port"), value)
    return int(text)


def parse_args(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
               prog: str = "app.py") -> ExplorerConfig:
    """The app's configuration: command-line options first, then the environment (gradio's GRADIO_SERVER_NAME
    and GRADIO_SERVER_PORT, LATENT_EXPLORER_MODEL), then the defaults. A bad port raises InputError naming
    --port or the variable it came from; a --lang other than de or en raises one naming --lang."""
    environ = os.environ if environ is None else environ
    args = argument_parser(prog).parse_args(argv)
    model = args.model or environ.get(MODEL_VARIABLE) or DEFAULT_MODEL
    host = args.host if args.host is not None else (environ.get(HOST_VARIABLE) or DEFAULT_HOST)
    if not host.strip():
        raise InputError("--host", say("ui_app.allowed.bind_address"), host)
    if args.port is not None:
        port = _port("--port", args.port)
    elif environ.get(PORT_VARIABLE, "").strip():
        port = _port(PORT_VARIABLE, environ[PORT_VARIABLE])
    else:
        port = DEFAULT_PORT
    if args.lang is not None and args.lang not in LANGUAGES:
        raise InputError("--lang", say("ui_app.allowed.one_of", choices=", ".join(LANGUAGES)), args.lang)
    if not 1 <= args.classroom_batch <= 64:
        raise InputError("--classroom-batch", say("ui_app.allowed.int_in", low=1, high=64), args.classroom_batch)
    if not 1 <= args.max_archive_images <= MAX_INDEX_IMAGES:
        raise InputError("--max-archive-images", say("ui_app.allowed.int_in", low=1, high=MAX_INDEX_IMAGES),
                         args.max_archive_images)
    for name, value in (("--max-queued-per-client", args.max_queued_per_client),
                        ("--max-new-sessions-per-minute", args.max_new_sessions_per_minute)):
        if not 0 <= value <= 100_000:
            raise InputError(name, say("ui_app.allowed.int_in_no_limit", low=0, high=100_000), value)
    max_size = check_max_size("--max-size", args.max_size)
    class_code = args.class_code if args.class_code is not None else environ.get(CLASS_CODE_VARIABLE) or None
    if class_code is not None and not (0 < len(class_code) <= MAX_CLASS_CODE_CHARS and class_code.isprintable()
                                       and class_code.strip() == class_code):
        source = "--class-code" if args.class_code is not None else CLASS_CODE_VARIABLE
        raise InputError(source, say("ui_app.allowed.class_code", n=MAX_CLASS_CODE_CHARS),
                         say("ui_app.received.characters", n=len(class_code)))
    return ExplorerConfig(model=model, device=args.device, dtype=args.dtype, low_memory=args.low_memory,
                          backend=args.backend, decoder=args.decoder, deepcache=args.deepcache,
                          host=host, port=port, lang=args.lang, max_size=max_size,
                          classroom_batch=args.classroom_batch,
                          share=args.share, outputs_dir=Path(args.outputs),
                          shared_vocabularies=tuple(Path(p) for p in args.vocabulary),
                          archive_roots=tuple(Path(p) for p in args.archive_root),
                          max_archive_images=args.max_archive_images, class_code=class_code,
                          trust_proxy=args.trust_proxy, max_queued_per_client=args.max_queued_per_client,
                          max_new_sessions_per_minute=args.max_new_sessions_per_minute,
                          monitoring=args.monitoring,
                          analytics=args.analytics or environ.get(ANALYTICS_VARIABLE) == "True")
