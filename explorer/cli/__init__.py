"""Command-line verbs. Each module in VERBS adds its subcommands with `register(subparsers)`."""
from __future__ import annotations

import argparse
import logging
import sys

from explorer.cli import archive, attention, embeddings, generate, jobs, lesson, map, walks
from explorer.errors import InputError, ModelLoadError

VERBS = [generate, attention, embeddings, walks, jobs, map, archive, lesson]   # modules, in the order their verbs appear in --help


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m explorer",
        description="latent-explorer: generate images step by step and explore the latent and embedding "
                    "space of Stable Diffusion models. Use `python app.py` for the browser UI.")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verbs in VERBS:
        verbs.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb; bad input exits 2 with a one-line message; a model that cannot load exits 3, also when the
    verb ran on the offline model instead of the one asked for (its outputs are written, and say so)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args) or 0
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except OSError as error:                     # a file the verb had to write or read: named, no traceback
        print(f"error: {getattr(error, 'filename', None) or 'file'}: {error.strerror or error}", file=sys.stderr)
        return 2
    if getattr(args, "fell_back_to", None):
        print(f"error: model: the model {args.model!r} could not be loaded; this ran on {args.fell_back_to!r} "
              "instead (see the note above)", file=sys.stderr)
        return 3
    return code
