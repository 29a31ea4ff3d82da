"""Benchmark of a classroom on one machine (issue 19, item 3): N users press Generate at once.

    HF_HUB_OFFLINE=1 python bench/bench_classroom.py [--model miniworld] [--clients 8] [--steps N]

Launches the app in this process and drives it through gradio_client, as N browsers would:
1. N generate requests one after another (each alone on the model: a solo run)
2. the same N requests at once from N clients (compatible requests share the UNet: generation.batcher)
Prints the time of each, the ratio at-once / one-after-another (goal <= 0.5 on miniworld, CPU),
the batch sizes the server ran, and whether every image is bit-identical to its solo run.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # shared CPUs: spinning OpenMP threads cost 10x (bench_archive)

GOAL = 0.5
PROMPTS = ["a red circle on the left", "a blue square", "a green triangle on the right", "a yellow circle",
           "a red square at the top", "a blue triangle", "a green circle at the bottom", "a yellow square"]


def main() -> None:
    import faulthandler
    faulthandler.dump_traceback_later(int(os.environ.get("BENCH_DUMP_S", "100000")), exit=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="miniworld")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    args = parser.parse_args()

    import httpx
    import numpy as np
    from gradio_client import Client
    from PIL import Image

    from explorer.config import ExplorerConfig
    from explorer.models.loading import load_model
    from explorer.ui.app import build_demo

    config = ExplorerConfig(model=args.model, classroom_batch=args.clients, max_queued_per_session=args.clients)
    model = load_model(args.model)
    model.pipe.set_progress_bar_config(disable=True)
    demo = build_demo(model, config)
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True)
    batcher = demo.explorer_context.batcher if hasattr(demo, "explorer_context") else None
    steps = args.steps or model.preset.steps
    jobs = [dict(prompt=PROMPTS[i % len(PROMPTS)], seed=i, steps=steps) for i in range(args.clients)]

    def ask(client, job):
        out = client.predict(job["prompt"], "", job["seed"], False, job["steps"], model.preset.guidance,
                             model.preset.size, model.preset.size, model.preset.scheduler, model.preset.preview,
                             api_name="/generate")
        # only the final image is fetched, as a browser fetches what it shows (gradio_client would otherwise
        # download every step picture of every streamed update: ~5x the request's time, none of it the model's)
        answer = httpx.get(out[0]["url"], timeout=120)
        return np.asarray(Image.open(io.BytesIO(answer.content)))

    try:
        clients = [Client(url, verbose=False, download_files=False) for _ in jobs]
        ask(clients[0], jobs[0])                                         # warm up (first-call costs)
        print("warm", flush=True)
        started = time.perf_counter()
        solo = []
        for job in jobs:
            solo.append(ask(clients[0], job))
            print(f"solo {len(solo)} at {time.perf_counter() - started:.1f} s", flush=True)
        one_by_one = time.perf_counter() - started
        together: list = [None] * len(jobs)

        def run(k):
            together[k] = ask(clients[k], jobs[k])

        threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        at_once = time.perf_counter() - started
        identical = sum(bool(np.array_equal(a, b)) for a, b in zip(solo, together))
        ratio = at_once / one_by_one
        print(f"model {args.model}, {len(jobs)} clients, {steps} steps, {model.preset.size} px, "
              f"preview {model.preset.preview}, torch threads {__import__('torch').get_num_threads()}")
        print(f"one after another: {one_by_one:.1f} s;  at once: {at_once:.1f} s;  ratio {ratio:.2f} "
              f"(goal <= {GOAL})")
        if batcher is not None:
            print(f"batches the server ran (sizes): {batcher.batches}")
        print(f"bit-identical to the solo run: {identical} of {len(jobs)}")
    finally:
        demo.close()


if __name__ == "__main__":
    main()
