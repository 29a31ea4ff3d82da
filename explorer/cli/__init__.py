"""Command-line verbs. Each module in VERBS adds its subcommands with `register(subparsers)`."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from explorer.cli import (archive, attention, embeddings, features, generate, invert, jobs, lens, lesson, map, ui,
                          walks)
from explorer.errors import InputError, ModelLoadError

VERBS = [ui, generate, attention, lens, embeddings, walks, invert, jobs, map, archive, lesson,
         features]   # modules, in the order their verbs appear in --help
COMMAND = "latent-explorer"           # the console command pip installs (pyproject.toml [project.scripts])


def program() -> str:
    """How the user started the CLI: the installed command, else `python -m explorer`."""
    return COMMAND if Path(sys.argv[0]).stem == COMMAND else "python -m explorer"


def build_parser() -> argparse.ArgumentParser:
    prog = program()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="latent-explorer: generate images step by step and explore the latent and embedding "
                    f"space of Stable Diffusion models. Start the browser UI with `{prog} ui` (its options: "
                    f"`{prog} ui --help`).")
    parser.set_defaults(prog=prog)
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verbs in VERBS:
        verbs.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one verb; bad input exits 2 with a one-line message; a model that cannot load exits 3, also when the
    verb ran on the offline model instead of the one asked for (its outputs are written, and say so)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passes_options", False):       # as parse_args; `ui` hands them to the app
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.options = rest
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
