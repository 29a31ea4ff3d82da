"""Arguments and helpers shared by the command-line verbs."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from explorer.checks import check_max_size
from explorer.concepts.vocabularies import BUILTIN, TOKENIZER, load_vocabulary
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.deepcache import use_deepcache
from explorer.models.loading import load_model
from explorer.models.presets import DEFAULT_MODEL, PRESETS
from explorer.outputs.saving import make_folder, new_file
from explorer.ui.settings import add_speed_args

__all__ = ["add_model_args", "config_from", "load", "make_folder", "new_file", "out_dir", "print_json",
           "vocabulary_arg"]


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"preset ({', '.join(PRESETS)}), Hugging Face id or local diffusers folder "
                             f"(default {DEFAULT_MODEL}; falls back to the offline model without the hub)")
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    parser.add_argument("--dtype", default=None, help="float32, float16 or bfloat16 (default: by device)")
    parser.add_argument("--low-memory", action="store_true",
                        help="for SDXL on small machines: model CPU offload on CUDA, VAE slicing and tiling")
    add_speed_args(parser)
    parser.add_argument("--max-size", type=int, default=ExplorerConfig.max_size, metavar="PIXELS",
                        help=f"the largest width or height allowed (default {ExplorerConfig.max_size}; at most 4096); "
                             "the time limit of one run still refuses what would take too long")


def add_settings_args(parser: argparse.ArgumentParser) -> None:
    """One generation's settings beside its prompt: --negative, --seed, --steps, --guidance, --size, --scheduler."""
    parser.add_argument("--negative", default="", help="negative prompt")
    parser.add_argument("--seed", type=int, default=0, help="integer in [0, 2^32) (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    parser.add_argument("--size", type=int, default=None, help="width and height in pixels, multiple of 8")
    parser.add_argument("--scheduler", default=None, help="ddim, euler, euler_a, dpm++2m, pndm or lms")


def load(args):
    """The model asked for; when it cannot load, the offline model, and the run will exit 3 (see main)."""
    model = load_model(args.model, args.device, args.dtype, low_memory=getattr(args, "low_memory", False),
                       backend=getattr(args, "backend", "torch"), cache_dir=ExplorerConfig().cache_dir,
                       decoder=getattr(args, "decoder", "full"))
    use_deepcache(model, getattr(args, "deepcache", 0))
    if model.banner:
        print(f"note: {model.banner}", file=sys.stderr)
        args.fell_back_to = model.name
    return model


def out_dir(path: str, field_name: str = "out_dir") -> Path:
    """A new or empty folder to write into (outputs are never overwritten), created now: a path that cannot be a
    folder is refused naming its option before anything is written."""
    folder = Path(path)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(field_name, "a new or empty folder (outputs are never overwritten)", str(folder))
    return make_folder(folder, field_name)


def vocabulary_arg(name: str, config: ExplorerConfig):
    """--vocabulary: "concepts", "tokenizer", or the path of a list in the assets/concepts format."""
    if name in (BUILTIN, TOKENIZER):
        return name
    return load_vocabulary(Path(name), limit=config.max_vocabulary)


def print_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def config_from(args, **settings) -> ExplorerConfig:
    """The verb's configuration: --max-size, --outputs and the verb's own `settings`."""
    config = ExplorerConfig(max_size=check_max_size("--max-size", getattr(args, "max_size", ExplorerConfig.max_size)),
                            **settings)
    if getattr(args, "outputs", None) and "outputs_dir" not in settings:
        config.outputs_dir = Path(args.outputs)
    return config
