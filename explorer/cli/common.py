"""Arguments and helpers shared by the command-line verbs."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from explorer.config import ExplorerConfig
from explorer.errors import InputError


def add_model_args(parser: argparse.ArgumentParser) -> None:
    from explorer.models import DEFAULT_MODEL, PRESETS

    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"preset ({', '.join(PRESETS)}), Hugging Face id or local diffusers folder "
                             f"(default {DEFAULT_MODEL}; falls back to the offline model without the hub)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--dtype", default=None, help="float32, float16 or bfloat16 (default: by device)")


def load(args):
    from explorer.models import load_model

    model = load_model(args.model, args.device, args.dtype)
    if model.banner:
        print(f"note: {model.banner}", file=sys.stderr)
    return model


def new_file(path: str | Path, field: str) -> Path:
    """A path to write to that does not exist yet: outputs are never overwritten."""
    path = Path(path)
    if path.exists():
        raise InputError(field, "a path that does not exist yet (outputs are never overwritten)", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def print_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def config_from(args) -> ExplorerConfig:
    config = ExplorerConfig()
    if getattr(args, "outputs", None):
        config.outputs_dir = Path(args.outputs)
    return config
