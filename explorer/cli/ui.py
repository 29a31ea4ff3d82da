"""`latent-explorer ui` (or `python -m explorer ui`): the browser UI, with the options of `python app.py`.

A pip install has no app.py: this verb checks the app's options here (`ui --help` prints them; a bad one exits 2
naming it), then runs the UI as `python -m explorer.ui.serve` in this process's place. The UI imports gradio; the
other verbs do not, and gradio must not be imported before the options are read (explorer.ui.serve).
"""
from __future__ import annotations

import os
import subprocess
import sys

from explorer.ui.settings import parse_args

SERVER_MODULE = "explorer.ui.serve"


def register(subparsers) -> None:
    p = subparsers.add_parser("ui", add_help=False, help="start the browser UI (its options: ui --help)",
                              description="Start the browser UI at http://127.0.0.1:7860 with the options of "
                                          "`python app.py` (see `ui --help`).")
    p.set_defaults(run=run_ui, passes_options=True)       # the options after `ui` go to the app's own parser


def run_ui(args) -> int:
    """Check the app's options (--help prints them and exits), then become the UI server until it is stopped."""
    parse_args(args.options, prog=f"{args.prog} ui")
    command = [sys.executable, "-m", SERVER_MODULE, *args.options]
    if os.name == "posix":
        os.execv(sys.executable, command)                  # this process becomes the server (signals reach it)
    return subprocess.call(command)
