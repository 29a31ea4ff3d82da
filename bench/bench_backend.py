"""A class on a laptop (issue 32): the CPU backends at real size, random weights, side by side in one run.

    HF_HUB_OFFLINE=1 python bench/bench_backend.py --model sd-turbo            # SD 2.1 UNet, 512 px, 1 step
    HF_HUB_OFFLINE=1 python bench/bench_backend.py --model sdxl-turbo          # SDXL UNet, 512 px, 1 step
    HF_HUB_OFFLINE=1 python bench/bench_backend.py --model sd15 --steps 20     # SD 1.5, 512 px, 20 steps, CFG 7.5
    HF_HUB_OFFLINE=1 python bench/bench_backend.py --model tiny-random        # seconds: the script itself
    HF_HUB_OFFLINE=1 python bench/bench_backend.py --compile-only             # openvino vs torch.compile, one UNet call

End to end (prompt -> PNG written), each run once per round, rounds interleaved (machine noise hits all alike):
1. plain diffusers: `pipe(prompt)` -> PIL -> PNG
2. the explorer on torch: generate() with approx step previews -> save_png
3. the explorer on openvino: the same, after load_model(..., backend="openvino") (conversion timed, cached on disk)
4. the peer's configuration (fastsdcpu): the openvino UNet and the tiny decoder (AutoencoderTiny's published
   architecture, random weights, converted too) for the final image, no previews
5. the explorer on openvino with its tiny decoder (models.tiny_decoder, `--decoder tiny`; the same random weights as
   the peer's), step previews on: the explorer's fast path for turbo models
6. with --torch-tiny: the explorer on torch with the tiny decoder (the tiny decoder's pixels, openvino vs torch)
Each with its wall and CPU seconds (time.process_time); then each final decoder alone (the VAE, the tiny decoder; torch
and openvino) at the size.
Then: the fast path's pixels against torch's (max difference, PSNR), conversion seconds, the cache's size on disk,
the process's peak memory. Random weights: speed does not depend on the values; pixels compare like with like.
`--compile-only`: one UNet call (SD 1.5 architecture) eager, openvino and torch.compile (inductor), the measurement
that picked the backend.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # shared CPUs: spinning OpenMP threads cost 10x (bench_archive)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import best_and_median, interleaved, interleaved_with_cpu  # noqa: E402

from explorer.generation.generate import generate  # noqa: E402
from explorer.generation.recipe import recipe_defaults  # noqa: E402
from explorer.models import backends  # noqa: E402
from explorer.models.builtin import clip_tokenizer  # noqa: E402
from explorer.models.loaded import LoadedModel  # noqa: E402
from explorer.models.loading import load_model  # noqa: E402
from explorer.models.presets import PRESETS  # noqa: E402
from explorer.models.tiny_decoder import decode_tiny as tiny_decode  # noqa: E402
from explorer.models.tiny_decoder import random_tiny_decoder, use_decoder  # noqa: E402
from explorer.models.tiny_decoder import tiny_decoder as tiny_decoder_module  # noqa: E402
from explorer.outputs.png import save_png  # noqa: E402

GOALS = {"sd-turbo": (0.33, 1.1), "sdxl-turbo": (0.33, 1.1), "sd15": (0.5, None)}   # issue 32: x plain, x peer
# stabilityai/sd-turbo (= stable-diffusion-2-1-base) unet/config.json and text_encoder/config.json (OpenCLIP ViT-H)
SD2_UNET = dict(sample_size=64, cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20),
                use_linear_projection=True, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2)
SD2_TEXT = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16,
                hidden_act="gelu", projection_dim=512)
SD_VAE = dict(block_out_channels=(128, 256, 512, 512), latent_channels=4, layers_per_block=2,
              down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20      # Linux: KiB


def sd_turbo() -> LoadedModel:
    """SD-Turbo's architecture (the SD 2.1 UNet, OpenCLIP-H text encoder, SD VAE) with random weights."""
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, bos_token_id=49406,
                                        eos_token_id=49407, pad_token_id=0, **SD2_TEXT)).eval()
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                timestep_spacing="trailing")
    pipe = StableDiffusionPipeline(vae=AutoencoderKL(**SD_VAE).eval(), text_encoder=text, tokenizer=clip_tokenizer(),
                                   unet=UNet2DConditionModel(**SD2_UNET).eval(), scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    return LoadedModel(pipe, "sd-turbo", PRESETS["sd-turbo"], torch.device("cpu"), torch.float32)


def real_model(name: str) -> LoadedModel:
    if name == "sd-turbo":
        model = sd_turbo()
    elif name == "sdxl-turbo":
        from bench_sdxl_size import build                       # SDXL base 1.0's configs (SDXL-Turbo's), random
        model = LoadedModel(build(), "sdxl-turbo", PRESETS["sdxl-turbo"], torch.device("cpu"), torch.float32)
    elif name == "sd15":
        from bench_attention import sd15_random
        model = sd15_random()
    else:
        model = load_model(name)
    model.pipe.set_progress_bar_config(disable=True)
    return model


def psnr(a, b) -> tuple[float, float]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mse = ((a - b) ** 2).mean()
    return float(np.abs(a - b).max()), float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def tiny_decoder(model, cache: Path) -> backends.Converted:
    """The peer's decoder: AutoencoderTiny (taesd's architecture; taesdxl's is the same), random weights, converted
    (the same weights as the explorer's tiny decoder in this run: models.tiny_decoder.random_tiny_decoder(0))."""
    tiny = random_tiny_decoder(0)
    graph = backends.DecoderGraph(tiny).eval()
    z = torch.randn(1, 4, 8, 8)
    key = backends.cache_key("taesd-random", "decoder", tiny, ["z"])
    return backends.convert(graph, (z,), key, cache / "backends" / "openvino" / "taesd-random-decoder")


def decode_costs(model, tiny: backends.Converted, size: int, repeats: int) -> dict[str, float]:
    """Seconds of one final decode at `size` px: the VAE and the tiny decoder, on torch and on openvino."""
    z = torch.randn(1, 4, size // 8, size // 8)
    module = tiny_decoder_module(model)
    runs = {"VAE on openvino": lambda: model.pipe.vae.decode(z),
            "tiny decoder on openvino": lambda: tiny.run([z.numpy()])}
    with backends.on_torch(model):
        with torch.inference_mode():
            runs_torch = {"VAE on torch": lambda: model.pipe.vae.decode(z),
                          "tiny decoder on torch": lambda: module.decode(z)}
            torch_times = interleaved(runs_torch, repeats)
    with torch.inference_mode():
        times = interleaved(runs, repeats)
    best, _ = best_and_median({**times, **torch_times})
    return best


def end_to_end(args) -> None:
    out = Path(tempfile.mkdtemp(prefix="bench-backend-"))
    cache = Path(args.cache) if args.cache else out / "cache"
    # 1. one model: torch runs inside backends.on_torch (the modules' own calls), openvino outside (one copy of the
    # weights in memory, the same weights for both)
    built = time.perf_counter()
    model = real_model(args.model)
    print(f"built {args.model} in {time.perf_counter() - built:.0f} s", flush=True)
    started = time.perf_counter()
    backends.use_backend(model, "openvino", cache)
    convert_s = time.perf_counter() - started
    started = time.perf_counter()
    peer_decoder = tiny_decoder(model, cache)
    tiny_s = time.perf_counter() - started
    disk = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 2**30
    print(f"conversion: {convert_s:.0f} s (UNet + VAE decoder), tiny decoder {tiny_s:.0f} s; cache {disk:.2f} GiB",
          flush=True)
    preset = model.preset
    steps = args.steps or preset.steps
    guidance = preset.guidance if args.guidance is None else args.guidance
    recipe = recipe_defaults(model, "a lighthouse on a cliff at dusk", seed=1, steps=steps, guidance=guidance,
                             width=args.size, height=args.size)
    pipe = model.pipe
    use_decoder(model, "tiny", random_tiny_decoder(0))       # the explorer's tiny decoder: random, taesd's shapes
    model.decoder = "full"                                   # each run's recipe says which decoder it wants
    tiny_recipe = recipe.with_(decoder="tiny")
    started = time.perf_counter()
    with torch.inference_mode():
        tiny_decode(model, torch.zeros(1, 4, args.size // 8, args.size // 8))   # converts the tiny decoder, timed
    print(f"tiny decoder through the explorer's fast path: converted in {time.perf_counter() - started:.0f} s",
          flush=True)

    def plain():
        with backends.on_torch(model):
            image = pipe(recipe.prompt, num_inference_steps=steps, guidance_scale=guidance, width=args.size,
                         height=args.size, generator=torch.Generator("cpu").manual_seed(1)).images[0]
        image.save(out / "plain.png")

    results = {}

    def explorer(on_torch: bool, key: str, decoder: str = "full"):
        def run():
            with backends.on_torch(model, on_torch):
                result = generate(model, tiny_recipe if decoder == "tiny" else recipe, watch=True)
            save_png(result.image, result.recipe, out)
            results[key] = result.image
        return run

    def peer():
        latents = model.pipe(recipe.prompt, num_inference_steps=steps, guidance_scale=guidance, width=args.size,
                             height=args.size, generator=torch.Generator("cpu").manual_seed(1),
                             output_type="latent").images
        pixels = torch.from_numpy(peer_decoder.run([latents.numpy()]))    # taesd: the pipeline's latents as they are
        image = model.pipe.image_processor.postprocess(pixels, output_type="pil")[0]
        image.save(out / "peer.png")

    runs = {"plain diffusers": plain, "explorer torch": explorer(True, "torch"),
            "explorer openvino": explorer(False, "openvino"),
            "explorer openvino + tiny decoder": explorer(False, "openvino-tiny", "tiny"),
            "peer (openvino + tiny decoder)": peer}
    if args.torch_tiny:
        runs["explorer torch + tiny decoder"] = explorer(True, "torch-tiny", "tiny")
    times, cpu = interleaved_with_cpu(runs, args.repeats)
    best, median = best_and_median(times)
    decodes = decode_costs(model, peer_decoder, args.size, args.repeats)
    base = best["plain diffusers"]
    load = os.getloadavg()
    print(f"\n{args.model}, {args.size} px, {steps} steps, guidance {guidance:g}; step previews on (approx) in the "
          f"explorer's runs; load average {load[0]:.1f} on {os.cpu_count()} CPUs (shared machine: prefer the ratios)")
    cpu_base = min(cpu["plain diffusers"])
    for name in runs:
        print(f"  {name:34s} best {best[name]:7.1f} s  median {median[name]:7.1f} s  x plain {best[name] / base:.2f}"
              f"  (CPU {min(cpu[name]):7.1f} s, x plain {min(cpu[name]) / cpu_base:.2f})")
    peer_s = best["peer (openvino + tiny decoder)"]
    goal_plain, goal_peer = GOALS.get(args.model, (None, None))
    for name in ("explorer openvino", "explorer openvino + tiny decoder"):
        fast = best[name]
        print(f"  {name} / plain = {fast / base:.2f} (goal <= {goal_plain}); / peer = {fast / peer_s:.2f} "
              f"(goal <= {goal_peer})")
    difference, db = psnr(results["torch"], results["openvino"])
    print(f"  pixels, openvino vs torch: max difference {difference:.0f}/255, PSNR {db:.1f} dB")
    if "torch-tiny" in results:
        difference, db = psnr(results["torch-tiny"], results["openvino-tiny"])
        print(f"  pixels, tiny decoder on openvino vs on torch: max difference {difference:.0f}/255, PSNR {db:.1f} dB")
    for name, seconds in decodes.items():
        print(f"  decode alone, {name:28s} {seconds:6.2f} s  x the VAE on openvino "
              f"{seconds / decodes['VAE on openvino']:.2f}")
    print("  (random weights: the tiny decoder's pixels against the VAE's say nothing; its difference on real weights "
          "needs the hub's checkpoints)")
    print(f"  peak memory {peak_gib():.1f} GiB (the model and its converted graphs in one process)")
    shutil.rmtree(out, ignore_errors=True)


def compile_only(args) -> None:
    """One UNet call (SD 1.5's architecture, batch 2 as with guidance) eager, openvino, torch.compile."""
    from bench_attention import sd15_random

    unet = sd15_random().pipe.unet
    side = args.size // 8
    x, t, e = torch.randn(2, 4, side, side), torch.tensor([500.0, 500.0]), torch.randn(2, 77, 768)
    graph = backends.UNetGraph(unet).eval()
    with torch.inference_mode():
        reference = graph(x, t, e)
    runs = {"eager": lambda: graph(x, t, e)}
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        part = backends.convert(graph, (x, t, e), {"bench": 1}, Path(folder) / "unet")
        part.run([x.numpy(), t.numpy(), e.numpy()])
        print(f"openvino: converted and compiled in {time.perf_counter() - started:.0f} s", flush=True)
        runs["openvino"] = lambda: part.run([x.numpy(), t.numpy(), e.numpy()])
        started = time.perf_counter()
        compiled = torch.compile(graph)
        with torch.inference_mode():
            compiled(x, t, e)
        print(f"torch.compile (inductor): compiled in {time.perf_counter() - started:.0f} s", flush=True)
        runs["torch.compile"] = lambda: compiled(x, t, e)
        with torch.inference_mode():
            times = interleaved(runs, args.repeats)
            difference = float((torch.from_numpy(part.run([x.numpy(), t.numpy(), e.numpy()])) - reference).abs().max())
    best, _ = best_and_median(times)
    print(f"one UNet call, {args.size} px, batch 2; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, seconds in best.items():
        print(f"  {name:14s} {seconds:7.2f} s  x eager {seconds / best['eager']:.2f}")
    print(f"  openvino vs eager: max difference {difference:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sd-turbo", help="sd-turbo, sdxl-turbo, sd15 or a preset (tiny-random)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=None, help="default: the preset's (turbo: 1)")
    parser.add_argument("--guidance", type=float, default=None, help="default: the preset's (turbo: 0)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cache", default=None, help="conversion cache folder (default: a fresh one, timed)")
    parser.add_argument("--compile-only", action="store_true")
    parser.add_argument("--torch-tiny", action="store_true", help="also the explorer on torch with the tiny decoder "
                        "(the tiny decoder's pixels on openvino against torch's)")
    args = parser.parse_args()
    compile_only(args) if args.compile_only else end_to_end(args)


if __name__ == "__main__":
    main()
