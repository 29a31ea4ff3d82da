"""Train miniworld's SAEs: `python -m explorer.inside.train` (minutes on a 2-core CPU; resumable; a progress bar).

Rebuilds assets/miniworld/sae/ (the default arguments are the shipped ones; seeds fix the pictures, the noise, the
initialisation and the batches; CPU kernels on another machine may differ in the last bits):

    python -m explorer.inside.train --out assets/miniworld/sae

1. collect: TRAIN_IMAGES training-distribution pictures (world seed TRAIN_SEED), each noised to a random step,
   through the UNet once with its caption; every position's residual update of each block is one training row.
2. train: one top-k SAE per block (explorer.inside.sae), Adam, STEPS batches of BATCH rows; a checkpoint of the
   run (weights, optimiser, step) in --work every CHECKPOINT_EVERY batches: a stopped run resumes there.
3. measure: a probe set of PROBE_IMAGES other pictures (seed PROBE_SEED); each feature's mean and std activation
   where it fires (mean.pt, std.pt), its oracle label and purity (explorer.inside.features) in labels.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from explorer.inside.features import MOST_ACTIVE, PURE, feature_maps, label_features, make_probe_set, per_picture, \
    pure_by_attribute, pure_share
from explorer.inside.sae import TopKSAE, project_decoder_grad_, save_sae, unit_norm_decoder_
from explorer.models.loading import load_model

# The paper's blocks sit around SDXL's bottleneck: down.2.1 (the last transformer of the deepest down level), mid.0,
# up.0.0 and up.0.1. miniworld's deepest down transformer is down_blocks.2.attentions.0 (4 x 4); down_blocks.1 (8 x 8,
# a level the paper left out) gave 78% pure features of the 64 most active, down_blocks.2 100%. up_blocks.1 (8 x 8)
# stays for painting's finer grid (a 4 x 4 block paints in 16-pixel cells).
BLOCKS = ["down_blocks.2.attentions.0", "mid_block.attentions.0", "up_blocks.1.attentions.0"]
EXPANSION = 4             # features per input dimension (the paper's 5120 for SDXL's 1280)
K = 8                     # features active per position (the paper: 10 of 5120)
AUXK = 32                 # dead features revived by the auxiliary loss (the paper: 256)
TRAIN_IMAGES, TRAIN_SEED = 2048, 1
PROBE_IMAGES, PROBE_SEED = 1024, 2
STEPS, BATCH, LR = 1000, 1024, 1e-3
CHECKPOINT_EVERY = 200
LABELS_FILE = "labels.json"


def train_block(rows: torch.Tensor, work: Path, block: str, steps: int, seed: int) -> TopKSAE:
    """One SAE on rows (N, d_model), resuming from work/<block>.pt when a run on the same rows and settings stopped
    there (a checkpoint of other rows or settings, or past `steps`, is not resumed: the run starts over). Bit for bit
    the same weights on every run with the same rows, seed and torch thread count, resumed or not."""
    torch.manual_seed(seed)
    sae = TopKSAE(rows.shape[1], EXPANSION * rows.shape[1], K, AUXK, dead_steps_threshold=64)
    sae.pre_bias.data = rows.median(dim=0).values.clone()          # the paper starts at the geometric median
    optimiser = torch.optim.Adam(sae.parameters(), lr=LR)
    work.mkdir(parents=True, exist_ok=True)
    resume, start, key = work / f"{block}.pt", 0, run_key(rows, seed)
    if resume.is_file():
        state = torch.load(resume, weights_only=True)
        if state.get("key") == key and state["step"] <= steps:
            sae.load_state_dict(state["sae"])
            optimiser.load_state_dict(state["optimiser"])
            start = state["step"]
    order = torch.Generator().manual_seed(seed)
    draws = [torch.randint(len(rows), (BATCH,), generator=order) for _ in range(steps)]   # same batches on resume
    bar = tqdm(range(start, steps), desc=block, initial=start, total=steps, file=sys.stderr)
    for step in bar:
        loss, mse = sae.loss(rows[draws[step]])
        optimiser.zero_grad()
        loss.backward()
        project_decoder_grad_(sae)
        optimiser.step()
        unit_norm_decoder_(sae)
        if step % 100 == 0:
            bar.set_postfix(mse=f"{mse.item():.3f}", dead=int((sae.stats_last_nonzero > 64).sum()))
        if (step + 1) % CHECKPOINT_EVERY == 0:
            torch.save({"sae": sae.state_dict(), "optimiser": optimiser.state_dict(), "step": step + 1, "key": key},
                       resume)
    return sae.eval()


def run_key(rows: torch.Tensor, seed: int) -> str:
    """What a resumable checkpoint must match: the rows (their bytes' digest) and every training setting."""
    digest = hashlib.sha256(rows.contiguous().numpy().tobytes()).hexdigest()[:16]
    return f"{digest}-{tuple(rows.shape)}-seed{seed}-x{EXPANSION}-k{K}-auxk{AUXK}-batch{BATCH}-lr{LR}"


def fit_stats(sae: TopKSAE, updates: torch.Tensor) -> None:
    """mean.pt / std.pt: each feature's mean and std activation over the positions where it fires."""
    acts = feature_maps(sae, updates).reshape(-1, sae.n_dirs)
    fired = acts > 0
    count = fired.sum(0).clamp_min(1)
    sae.mean.copy_(acts.sum(0) / count)
    sae.std.copy_(((acts - sae.mean).pow(2) * fired).sum(0).div(count).sqrt())


def measure(model, saes: dict[str, TopKSAE], n: int = PROBE_IMAGES, seed: int = PROBE_SEED) -> dict:
    """Each block's features labelled on a probe set: the table labels.json holds (and the tests recompute)."""
    probes = make_probe_set(model, n, seed, list(saes), progress=True)
    table = {}
    for block, sae in saes.items():
        labels = label_features(per_picture(feature_maps(sae, probes.updates[block])), probes.readings)
        table[block] = {"pure_share": pure_share(labels), "by_attribute": pure_by_attribute(labels),
                        "features": [vars(f) for f in labels]}
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.inside.train", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="assets/miniworld/sae", help="folder for the checkpoints and labels.json")
    parser.add_argument("--work", default=os.path.join(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"),
                                                       "latent-explorer", "sae-train"),
                        help="folder for the resumable state of a run")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"batches per SAE (default {STEPS})")
    parser.add_argument("--images", type=int, default=TRAIN_IMAGES, help=f"training pictures ({TRAIN_IMAGES})")
    args = parser.parse_args(argv)
    out, work = Path(args.out), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    model = load_model("miniworld")
    started = time.perf_counter()
    # 1. collect
    rows = make_probe_set(model, args.images, TRAIN_SEED, BLOCKS, progress=True).updates
    collected = time.perf_counter() - started
    # 2. train, resumably
    saes = {}
    for i, block in enumerate(BLOCKS):
        updates = rows[block]
        saes[block] = train_block(updates.reshape(-1, updates.shape[-1]), work, block, args.steps, seed=i)
        fit_stats(saes[block], updates)
        save_sae(saes[block], out / block)
    trained = time.perf_counter()
    # 3. measure against the oracle
    table = measure(model, saes)
    record = {"command": "python -m explorer.inside.train " + " ".join(argv if argv is not None else sys.argv[1:]),
              "train": {"images": args.images, "seed": TRAIN_SEED, "steps": args.steps, "batch": BATCH, "lr": LR,
                        "expansion": EXPANSION, "k": K, "auxk": AUXK},
              "probe": {"images": PROBE_IMAGES, "seed": PROBE_SEED},
              "bar": {"most_active": MOST_ACTIVE, "purity": PURE},
              "seconds": {"collect": round(collected, 1), "train": round(trained - started - collected, 1),
                          "measure": round(time.perf_counter() - trained, 1)},
              "blocks": table}
    (out / LABELS_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    for block in BLOCKS:
        print(f"{block}: {table[block]['pure_share']:.0%} of the {MOST_ACTIVE} most active features have purity "
              f">= {PURE}; per attribute (features, pure, chance): {table[block]['by_attribute']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
