"""Verbs `probe-job` and `index-job`: a bias probe over tens of thousands of seeds, and an archive index of up to
millions of images, as Ray tasks, resumable (explorer.jobs)."""
from __future__ import annotations

import sys

from explorer.archive.index import EMBED_CHUNK
from explorer.cli.common import make_folder, print_json
from explorer.explore.probe import parse_attributes
from explorer.jobs.index_job import IndexJob, run_index_job
from explorer.jobs.probe_job import ProbeJob, run_probe_job
from explorer.models.examples import BY_NAME
from explorer.models.families import FAMILIES
from explorer.models.presets import DEFAULT_MODEL, resolve_preset


def register(subparsers) -> None:
    register_probe_job(subparsers)
    register_index_job(subparsers)


def _ray_args(p) -> None:
    p.add_argument("--address", default=None, help="a Ray cluster to join ('auto', 'ray://host:10001'); default: "
                   "a local one")
    p.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray cluster (default: all)")
    p.add_argument("--gpus-per-task", type=float, default=0.0, help="GPUs each task reserves (e.g. 1, or 0.5)")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many new shards (resume later)")
    p.add_argument("--out-dir", required=True, help="the job's folder: new, or the same job's to resume")


def _progress(done: int, total: int) -> None:
    print(f"shards: {done}/{total}", file=sys.stderr)


def register_probe_job(subparsers) -> None:
    p = subparsers.add_parser("probe-job", help="a bias probe at scale: seed shards as Ray tasks, resumable",
                              description="The bias probe of `probe` over many seeds: each shard of seeds is one Ray "
                                          "task (every CPU of this machine, or a cluster with --address), written "
                                          "to OUT/shards/ as it finishes; run it again on the same folder to resume. "
                                          "OUT/probe.json has the keys of `probe`'s.")
    p.add_argument("--model", default=DEFAULT_MODEL, help="preset, Hugging Face id or folder (loaded by each worker)")
    p.add_argument("--prompts", nargs="+", default=None, help="2-8 prompts (default: the model family's probe)")
    p.add_argument("--attributes", default=None, help="attribute lines, e.g. 'gender: a man | a woman'")
    p.add_argument("--seeds", type=int, default=1000, help="seeds per prompt (default 1000)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--shard", type=int, default=32, help="seeds per task (default 32, at most max_seeds 64)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--no-vision", action="store_true", help="images only, no CLIP counts")
    _ray_args(p)
    p.set_defaults(run=run_probe_job_verb)


def run_probe_job_verb(args) -> int:
    # 1. the job, from the model family's defaults where not given (no weights loaded here: the workers load them)
    examples = BY_NAME[FAMILIES[resolve_preset(args.model).family].examples]
    attributes = parse_attributes(args.attributes or examples.attributes)
    job = ProbeJob(args.model, tuple(args.prompts or examples.probe), attributes, args.seeds, args.first_seed,
                   args.shard, args.steps, not args.no_vision).check()
    # 2. the shards on Ray, 3. the merged probe.json
    summary = run_probe_job(job, make_folder(args.out_dir, "out_dir"), address=args.address, cpus=args.cpus,
                            gpus_per_task=args.gpus_per_task, stop_after=args.stop_after, progress=_progress)
    if summary is None:
        print(f"stopped: run the same command again to resume ({args.out_dir})", file=sys.stderr)
        return 0
    print_json({k: summary[k] for k in ("prompts", "measured", "reason", "counts", "shards")} |
               {"seeds": len(summary["seeds"])})
    return 0


def register_index_job(subparsers) -> None:
    p = subparsers.add_parser("index-job", help="an archive index at scale: image shards as Ray tasks, resumable",
                              description="Index an archive of up to millions of images with the model family's "
                                          "CLIP vision model: each shard of images is one Ray task (every CPU of "
                                          "this machine, or a cluster with --address), written to OUT/shards/ as it "
                                          "finishes; run it again on the same folder to resume. The merged index is "
                                          "the cache file `archive` and the app read (no second build); "
                                          "OUT/index.json says where it is.")
    p.add_argument("--model", default=DEFAULT_MODEL, help="preset, Hugging Face id or folder (its family's CLIP "
                   "vision model indexes the images; loaded by each worker)")
    p.add_argument("--archive", default="", metavar="DIR", help="a folder of images (default: the model's own "
                   "archive, miniworld's training set)")
    p.add_argument("--shard", type=int, default=IndexJob.shard, help=f"images per task, a multiple of {EMBED_CHUNK} "
                   f"(default {IndexJob.shard})")
    p.add_argument("--max-images", type=int, default=IndexJob.max_images,
                   help=f"refuse a larger folder (default {IndexJob.max_images:,}; the app and `archive` search "
                        "one this large with --max-archive-images / --max-images)")
    p.add_argument("--limit", type=int, default=None, help="index only the first N images (a quick look)")
    _ray_args(p)
    p.set_defaults(run=run_index_job_verb)


def run_index_job_verb(args) -> int:
    # 1. the job (no weights loaded here unless the archive is the model's own: the workers load them)
    job = IndexJob(args.model, args.archive, args.shard, args.limit, args.max_images).check()
    # 2. the shards on Ray, 3. the merged index in the cache
    summary = run_index_job(job, make_folder(args.out_dir, "out_dir"), address=args.address, cpus=args.cpus,
                            gpus_per_task=args.gpus_per_task, stop_after=args.stop_after, progress=_progress)
    if summary is None:
        print(f"stopped: run the same command again to resume ({args.out_dir})", file=sys.stderr)
        return 0
    print_json(summary)
    return 0
