"""The tiny decoder's cost (models.tiny_decoder): one final decode by SD's VAE and by TAESD on torch, random weights in
the published shapes (speed does not depend on the values), interleaved, wall and CPU seconds.

    HF_HUB_OFFLINE=1 python bench/bench_tiny_decoder.py --size 512

The openvino versions of both are timed by bench/bench_backend.py (end to end, with the UNet). Their pixels against
each other need the real checkpoints (random weights compare nothing), so none is printed here.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # shared CPUs: spinning OpenMP threads cost 10x (bench_archive)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _timing import best_and_median, interleaved_with_cpu  # noqa: E402
from bench_backend import SD_VAE  # noqa: E402

from explorer.models.tiny_decoder import random_tiny_decoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    vae, tiny = AutoencoderKL(**SD_VAE).eval(), random_tiny_decoder(0)
    z = torch.randn(1, 4, args.size // 8, args.size // 8)
    with torch.inference_mode():
        times, cpu = interleaved_with_cpu({"VAE": lambda: vae.decode(z / 0.18215),
                                           "tiny decoder": lambda: tiny.decode(z)}, args.repeats)
    best, median = best_and_median(times)
    print(f"one final decode, {args.size} px, torch, {torch.get_num_threads()} threads; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine: prefer the ratios, CPU seconds)")
    for name in times:
        print(f"  {name:13s} best {best[name]:6.2f} s (median {median[name]:6.2f} s), CPU {min(cpu[name]):6.2f} s")
    print(f"  tiny / VAE: wall {best['tiny decoder'] / best['VAE']:.3f}, CPU "
          f"{min(cpu['tiny decoder']) / min(cpu['VAE']):.3f}")


if __name__ == "__main__":
    main()
