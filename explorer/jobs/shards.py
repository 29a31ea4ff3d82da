"""What every sharded job shares: a job folder that holds one job (to resume it), atomic files, Ray's start-up,
one model per worker process, and the loop that runs the missing shards as tasks.

A job's folder holds job.json (what it computes) and shards/<index>.<suffix>, one file per finished shard; a
shard's file exists only once it is whole (written to a temporary file, then renamed), so a job stopped at any
moment resumes with the shards that are missing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from explorer.cache import write_atomic
from explorer.checks import check_int
from explorer.errors import InputError
from explorer.messages import say
from explorer.models.loading import load_model

JOB_FILE = "job.json"
SHARDS = "shards"
ROOT = Path(__file__).resolve().parents[2]        # the repository, for Ray's workers to import explorer from

Progress = Callable[[int, int], None]             # progress(shards done, shards in all)


def job_folder(folder: Path, record: dict, same: Callable[[dict], None] | None = None) -> Path:
    """The job's folder: created with `record` as its job.json, or one whose job.json equals it (to resume).
    `same(saved)` may refuse a saved record that differs in more than the fields it checks itself."""
    path = folder / JOB_FILE
    record = json.loads(json.dumps(record))                     # as it reads back (tuples as lists)
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except ValueError as error:
            raise InputError("out_dir", say("jobs.allowed.readable_job", file=JOB_FILE), str(folder),
                             hint=str(error)) from None
        if same is not None:
            same(saved)
        if saved != record:
            raise InputError("out_dir", say("jobs.allowed.same_job"), str(folder),
                             hint=say("jobs.hint.other_job", file=JOB_FILE))
    elif folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError("out_dir", say("jobs.allowed.empty_folder"), str(folder))
    else:
        (folder / SHARDS).mkdir(parents=True, exist_ok=True)
        write_json(path, record)
    (folder / SHARDS).mkdir(exist_ok=True)
    return folder


def shard_path(folder: Path, index: int, suffix: str) -> Path:
    return folder / SHARDS / f"{index:05d}{suffix}"


def missing_shards(folder: Path, total: int, suffix: str, stop_after: int | None) -> list[int]:
    """The shards not yet written, the first `stop_after` of them when given."""
    todo = [i for i in range(total) if not shard_path(folder, i, suffix).is_file()]
    if stop_after is not None:
        todo = todo[:check_int("stop_after", stop_after, 1, max(total, 1))]
    return todo


def run_tasks(function, arguments: list[tuple], *, address: str | None, cpus: int | None, gpus_per_task: float,
              on_result: Callable[[object], None], progress: Progress | None, done: int, total: int) -> None:
    """Each argument tuple as one Ray task of `function` (one CPU, `gpus_per_task` GPUs, retried twice); each
    result is handed to on_result as soon as it arrives. Starts a local Ray (or joins `address`) if none runs."""
    import ray  # heavy: only when a job runs

    if not arguments:
        return
    if not ray.is_initialized():
        path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        ray.init(address=address, num_cpus=None if address else cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path,
                                           "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0")}})
    task = ray.remote(num_cpus=1, num_gpus=gpus_per_task, max_retries=2)(function)
    pending = [task.remote(*args) for args in arguments]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        on_result(ray.get(ready[0]))                          # a task's error is raised here
        done += 1
        if progress is not None:
            progress(done, total)


def put(value):
    """`value` in Ray's object store (passed to every task once, not pickled per task)."""
    import ray

    return ray.put(value)


_MODELS: dict[str, object] = {}                   # per worker process: a task reuses the model its worker loaded


def worker_model(name: str):
    """The model `name`, loaded once per worker process (no fallback: a job fails rather than use another)."""
    if name not in _MODELS:
        model = load_model(name, fallback=False)
        model.pipe.set_progress_bar_config(disable=True)
        _MODELS[name] = model
    return _MODELS[name]


def write_json(path: Path, data) -> None:
    """Write JSON so that a reader (or a resumed job) never sees half a file."""
    write_atomic(path, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
