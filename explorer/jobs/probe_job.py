"""A bias probe at the scale of published studies, on Ray: shards of seeds as tasks, resumable, merged into the
same probe.json the single-machine probe writes.

The job is the single-machine `bias_probe` run shard by shard: shard i renders every prompt over seeds
first_seed + i * shard ... (+ shard - 1) and counts CLIP's zero-shot picks, exactly as one call of `bias_probe`
does; the merge adds the counts and averages the mean probabilities weighted by each shard's images. Images are
bit-identical to the single-machine path (explorer.generation.invariant), so the counts are the same.

    job = ProbeJob("sd15", ("a photo of a CEO", "a photo of a nurse"), parse_attributes("gender: a man | a woman"),
                   seeds=20_000, shard=64)
    summary = run_probe_job(job, Path("ceo-20k"))                 # local Ray: every CPU (or GPU) of this machine
    summary = run_probe_job(job, Path("ceo-20k"), address="auto") # a running Ray cluster: its GPUs and machines

Resumable: each finished shard is written to <folder>/shards/<index>.json before the next result is awaited; a
second run on the same folder does only the shards that are missing (the folder's job.json must describe the same
job). Ray (Moritz et al. 2018, "Ray: A Distributed Framework for Emerging AI Applications") schedules the tasks;
locally it starts a one-machine cluster, with `address` it joins an existing one.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from explorer.checks import check_int
from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.messages import say
from explorer.explore.probe import PROBE_NOTE, bias_probe, wilson_interval
from explorer.generation.recipe import SEED_MAX, recipe_defaults
from explorer.jobs.shards import Progress, job_folder, missing_shards, run_tasks, shard_path, worker_model, write_json
from explorer.models.vision import load_vision, vision_status

MAX_JOB_SEEDS = 10_000_000                        # seeds per prompt in one job
SUFFIX = ".json"                                  # a shard's file: its counts and image paths


@dataclass(frozen=True)
class ProbeJob:
    """What a probe job computes (job.json): the same fields as `python -m explorer probe`, plus the shard size."""

    model: str
    prompts: tuple[str, ...]
    attributes: dict = field(default_factory=dict)   # name -> labels (explorer.explore.probe.parse_attributes)
    seeds: int = 64                                   # seeds per prompt
    first_seed: int = 0
    shard: int = 32                                   # seeds per task (every prompt over them)
    steps: int | None = None                          # None: the model's default
    vision: bool = True                               # count with CLIP zero-shot (the family's vision model)

    def check(self) -> "ProbeJob":
        check_int("seeds", self.seeds, 1, MAX_JOB_SEEDS)
        check_int("shard", self.shard, 1, ExplorerConfig().max_seeds)
        check_int("first_seed", self.first_seed, 0, SEED_MAX - self.seeds)
        if not 2 <= len(self.prompts) <= 8:
            raise InputError("prompts", say("jobs.allowed.prompts"), len(self.prompts))
        if not self.attributes:
            raise InputError("attributes", say("jobs.allowed.attributes"), self.attributes)
        return self

    @property
    def shard_count(self) -> int:
        return -(-self.seeds // self.shard)

    def shard_seeds(self, index: int) -> tuple[int, int]:
        """(first seed, number of seeds) of shard `index`."""
        start = index * self.shard
        return self.first_seed + start, min(self.shard, self.seeds - start)

    def to_dict(self) -> dict:
        return {**asdict(self), "prompts": list(self.prompts)}


def run_shard(job: ProbeJob, index: int, folder: Path) -> dict:
    """One shard, as one call of the single-machine probe: its seeds, counts, mean probabilities and images."""
    model = worker_model(job.model)
    vision = load_vision(model) if job.vision else None
    first, n = job.shard_seeds(index)
    overrides = {"steps": job.steps} if job.steps else {}
    base = recipe_defaults(model, job.prompts[0], seed=first, **overrides)
    images = folder / "images" / f"shard-{index:05d}"
    images.mkdir(parents=True, exist_ok=True)
    probe = bias_probe(model, base, list(job.prompts), n, job.attributes, vision=vision, outputs_dir=images,
                       config=ExplorerConfig(outputs_dir=images))
    return {"index": index, "seeds": probe.seeds, "measured": probe.measured,
            "reason": probe.reason or (vision_status(model) if job.vision and vision is None else ""),
            "counts": probe.counts, "mean_probability": probe.mean_probability, "blank": probe.blank,
            "notes": probe.notes,
            "images": {p: [str(Path(r.path).relative_to(folder)) for r in rs] for p, rs in probe.images.items()}}


def run_probe_job(job: ProbeJob, folder: Path, *, address: str | None = None, cpus: int | None = None,
                  gpus_per_task: float = 0.0, stop_after: int | None = None,
                  progress: Progress | None = None) -> dict | None:
    """Run the shards not yet in `folder` on Ray and merge them into <folder>/probe.json (returned).

    `stop_after`: return after that many new shards (None: run to the end); the job then resumes where it stopped.
    Returns the merged summary once every shard is done, else None.
    """
    # 1. the folder holds this job (new) or the same job (resume)
    job.check()
    folder = job_folder(Path(folder), job.to_dict())
    todo = missing_shards(folder, job.shard_count, SUFFIX, stop_after)
    # 2. one Ray task per shard; each result is written as soon as it arrives
    run_tasks(run_shard, [(job, i, folder) for i in todo], address=address, cpus=cpus, gpus_per_task=gpus_per_task,
              on_result=lambda shard: write_json(shard_path(folder, shard["index"], SUFFIX), shard),
              progress=progress, done=job.shard_count - len(todo), total=job.shard_count)
    # 3. merged once every shard is there
    shards = [shard_path(folder, i, SUFFIX) for i in range(job.shard_count)]
    if not all(path.is_file() for path in shards):
        return None
    summary = merge_shards(job, [json.loads(path.read_text()) for path in shards])
    write_json(folder / "probe.json", summary)
    return summary


def merge_shards(job: ProbeJob, shards: list[dict]) -> dict:
    """probe.json of the whole job from its shards (the single-machine probe's keys, plus the job's images)."""
    seeds = [s for shard in sorted(shards, key=lambda s: s["index"]) for s in shard["seeds"]]
    measured = all(shard["measured"] for shard in shards)
    counts: dict = {}
    mean_probability: dict = {}
    if measured:
        for name, labels in job.attributes.items():
            counts[name], mean_probability[name] = {}, {}
            for p in job.prompts:
                rows = [(shard["counts"][name][p], shard["mean_probability"][name][p], len(shard["seeds"]))
                        for shard in shards if p in shard["counts"].get(name, {})]
                counts[name][p] = [sum(row[0][j] for row in rows) for j in range(len(labels))]
                total = sum(n for _, _, n in rows)
                mean_probability[name][p] = [sum(row[1][j] * row[2] for row in rows) / total
                                             for j in range(len(labels))]
    intervals = {a: {p: [wilson_interval(c, len(seeds)) for c in row] for p, row in by.items()}
                 for a, by in counts.items()}
    blank = {p: sum(shard["blank"].get(p, 0) for shard in shards) for p in job.prompts}
    return {"prompts": list(job.prompts), "seeds": seeds, "attributes": job.attributes, "measured": measured,
            "reason": next((shard["reason"] for shard in shards if shard["reason"]), ""), "counts": counts,
            "intervals95": intervals, "mean_probability": mean_probability, "note": PROBE_NOTE, "blank": blank,
            "shards": len(shards), "images": {p: [f for shard in shards for f in shard["images"].get(p, [])]
                                              for p in job.prompts}}
