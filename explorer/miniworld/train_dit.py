"""Train miniworld-dit: a small diffusion transformer on the miniature world, by flow matching.

    python -m explorer.miniworld.train_dit --out assets/miniworld-dit          # the shipped weights
    python -m explorer.miniworld.train_dit --out /tmp/dit --quick              # a few steps (smoke test)
    python -m explorer.miniworld.train_dit --out DIR --resume                  # go on from DIR's checkpoint

The same world, captions, paint mixes and held-out combinations as miniworld (explorer/miniworld/train.py, whose
data code this reuses with its default configuration, so the images are the same 20,000), and miniworld's trained,
frozen VAE and text encoder. Only the denoiser is new: diffusers' `SD3Transformer2DModel` (MMDiT with joint
attention, patch size 2: the 4x16x16 latents are 64 tokens), trained by flow matching as SD3 is (rectified flow,
Lipman et al. 2023 "Flow Matching for Generative Modeling"; Esser et al. 2024 "Scaling Rectified Flow Transformers
for High-Resolution Image Synthesis"): x_t = (1 - sigma) x0 + sigma eps, the transformer predicts v = eps - x0, sigma
drawn from the logit-normal distribution (Esser et al.'s best, m = 0, s = 1). The result is a folder that
`StableDiffusion3Pipeline.from_pretrained` loads: miniworld's CLIP text tower with its projection serves as both CLIP
encoders (`CLIPTextModelWithProjection`), there is no T5 (`text_encoder_3=None`: the pipeline's T5 rows are zeros),
and the model is trained with `max_sequence_length=0`, i.e. no T5 rows at all (pass it to the pipeline: the preset
does). The conditioning is computed by the pipeline's own `encode_prompt`, so training sees exactly what generation
gives.

As for miniworld's UNet, the words that name the object learn to attend to it (TokenCompose's token loss, Wang et
al. 2024, on the image-to-text block of every joint attention), paint mixes are conditioned on the lerp of their two
captions' conditionings (conditioning mixup), 10% of captions are dropped for classifier-free guidance, and the
saved transformer is the exponential moving average.

Deterministic: fixed seeds, batches drawn from a seeded generator, 2 torch threads; checkpoints every
`checkpoint_every` steps (`--resume` picks up there and gives the same weights as an uninterrupted run).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")     # see explorer/miniworld/train.py

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from explorer.miniworld.losses import cosine_lr, ema_update  # noqa: E402
from explorer.models.presets import MINIWORLD_DIR  # noqa: E402
from explorer.miniworld.train import (TrainConfig, _index_of, _step, encode_images, grounding_loss, log,  # noqa: E402
                                      object_cover, object_tokens, timed)
from explorer.world.scenes import check_held_out, make_dataset, make_paint_mixes  # noqa: E402

MINIWORLD = MINIWORLD_DIR                 # the shipped miniworld (its VAE, text encoder, word lists)
TEXT_LENGTH = 0                  # max_sequence_length: T5 rows in the sequence (there is no T5: none at all)
DATA = TrainConfig()             # miniworld's data settings: the same images, mixes, held-out combinations


@dataclass
class DitConfig:
    """Everything that decides the shipped transformer (defaults: the shipped run)."""

    seed: int = 0
    threads: int = 2
    layers: int = 4                  # JointTransformerBlocks
    heads: int = 4
    head_dim: int = 24               # width = heads * head_dim = 96
    steps: int = 1100                # sized to ~35 min on the shared 2-core machine (1.9 s a step measured there)
    batch: int = 32
    lr: float = 1e-3
    warmup: int = 50
    ema_decay: float = 0.995
    grounding_weight: float = 0.05   # TokenCompose's token loss on the joint attention's image-to-text block
    shift: float = 1.0               # the scheduler's sigma shift at generation (SD3: 3.0 at 1024 px; 64 tokens here)
    checkpoint_every: int = 100
    log_every: int = 25


QUICK = dict(steps=4, batch=8, warmup=1, checkpoint_every=2, log_every=1)


class RecordingJointProcessor:
    """Joint attention computed as JointAttnProcessor2_0 does, with explicit probabilities (same math as SDPA); the
    image-to-text block of the probabilities (B, heads, image tokens, CLIP tokens) is kept, with gradients."""

    def __init__(self, maps: list, text_tokens: int = 77):
        self.maps, self.text_tokens = maps, text_tokens

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, *args, **kwargs):
        b, n = hidden_states.shape[:2]

        def heads(x):
            return x.view(b, -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)

        q, k, v = heads(attn.to_q(hidden_states)), heads(attn.to_k(hidden_states)), heads(attn.to_v(hidden_states))
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)
        cq, ck, cv = (heads(attn.add_q_proj(encoder_hidden_states)), heads(attn.add_k_proj(encoder_hidden_states)),
                      heads(attn.add_v_proj(encoder_hidden_states)))
        if attn.norm_added_q is not None:
            cq = attn.norm_added_q(cq)
        if attn.norm_added_k is not None:
            ck = attn.norm_added_k(ck)
        q, k, v = torch.cat([q, cq], 2), torch.cat([k, ck], 2), torch.cat([v, cv], 2)
        probs = (q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5).softmax(-1)
        self.maps.append(probs[:, :, :n, n:n + self.text_tokens])
        out = (probs @ v).transpose(1, 2).reshape(b, -1, attn.heads * q.shape[-1])
        out, context = out[:, :n], out[:, n:]
        if not attn.context_pre_only:
            context = attn.to_add_out(context)
        return attn.to_out[1](attn.to_out[0](out)), context


def load_miniworld(folder: Path = MINIWORLD):
    """miniworld's tokenizer, its CLIP text tower with projection (CLIPTextModelWithProjection) and its VAE (with
    shift_factor 0, which the SD3 pipeline adds when it decodes), all frozen."""
    from diffusers import AutoencoderKL
    from transformers import CLIPModel, CLIPTextModelWithProjection, CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    clip = CLIPModel.from_pretrained(str(folder / "clip"))
    config = clip.config.text_config
    config.projection_dim = clip.config.projection_dim
    text_encoder = CLIPTextModelWithProjection(config)
    text_encoder.text_model.load_state_dict(clip.text_model.state_dict())
    text_encoder.text_projection.load_state_dict(clip.text_projection.state_dict())
    vae = AutoencoderKL.from_pretrained(str(folder / "vae"))
    vae.register_to_config(shift_factor=0.0)
    for module in (text_encoder, vae):
        module.eval().requires_grad_(False)
    return tokenizer, text_encoder, vae


def build_transformer(cfg: DitConfig, text_width: int, pooled_width: int, latent_channels: int = 4,
                      latent_side: int = 16):
    """A randomly initialised SD3Transformer2DModel on (4, 16, 16) latents (patch 2: 64 tokens); positions up to
    16x16 patches, so 128 px images also fit."""
    from diffusers import SD3Transformer2DModel

    width = cfg.heads * cfg.head_dim
    return SD3Transformer2DModel(sample_size=latent_side, patch_size=2, in_channels=latent_channels,
                                 out_channels=latent_channels, num_layers=cfg.layers, attention_head_dim=cfg.head_dim,
                                 num_attention_heads=cfg.heads, joint_attention_dim=text_width,
                                 caption_projection_dim=width, pooled_projection_dim=pooled_width,
                                 pos_embed_max_size=latent_side)


def build_pipeline(transformer, tokenizer, text_encoder, vae, shift: float):
    from diffusers import FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline

    return StableDiffusion3Pipeline(transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=shift),
                                    vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                    text_encoder_2=text_encoder, tokenizer_2=tokenizer,
                                    text_encoder_3=None, tokenizer_3=None)


@torch.no_grad()
def encode_captions(pipe, captions: list[str], batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(U, 77, d) sequences and (U, p) pooled vectors, computed by the pipeline's own encode_prompt."""
    seqs, pooled = [], []
    for start in range(0, len(captions), batch):
        embeds, _, pool, _ = pipe.encode_prompt(captions[start:start + batch], None, None, device=torch.device("cpu"),
                                                do_classifier_free_guidance=False, max_sequence_length=TEXT_LENGTH)
        seqs.append(embeds)
        pooled.append(pool)
    return torch.cat(seqs), torch.cat(pooled)


def train(cfg: DitConfig, out: Path, resume: bool = False, data: TrainConfig = DATA) -> dict:
    """Train the transformer and write a StableDiffusion3Pipeline folder to `out`; returns the training record."""
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, tuple[float, float]] = {}
    with timed("data", times):
        held_out = check_held_out(data.held_out)
        dataset = make_dataset(data.images, data.seed, held_out)
        mixes = make_paint_mixes(data.paint_mixes, data.seed + 10, held_out)
        tokenizer, text_encoder, vae = load_miniworld()
        (mean, std), (mix_mean, mix_std) = encode_images(vae, dataset.images), encode_images(vae, mixes.images)
    text_width = 2 * text_encoder.config.hidden_size                     # CLIP-L and CLIP-G side by side (here: twice)
    pooled_width = 2 * text_encoder.config.projection_dim
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 4)
    model = build_transformer(cfg, text_width, pooled_width)
    ema = build_transformer(cfg, text_width, pooled_width)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    with timed("conditioning", times):
        pipe = build_pipeline(model, tokenizer, text_encoder, vae, cfg.shift)
        vocab = sorted(set(dataset.captions) | set(mixes.captions_a) | set(mixes.captions_b))
        cond, pooled = encode_captions(pipe, vocab + [""])               # the last row: the empty prompt
    log(f"{len(dataset)} images, {len(mixes)} paint mixes, {len(vocab)} distinct captions; conditioning "
        f"{tuple(cond.shape)}, pooled {tuple(pooled.shape)}; held out: {', '.join(held_out)}")
    with timed("transformer", times):
        maps: list[torch.Tensor] = []
        model.set_attn_processor(RecordingJointProcessor(maps))
        log(f"transformer: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
        caption_row = torch.tensor(_index_of(vocab, dataset.captions))
        row_a, row_b = (torch.tensor(_index_of(vocab, c)) for c in (mixes.captions_a, mixes.captions_b))
        weight_b = torch.from_numpy(mixes.weights).float()
        named = object_tokens(tokenizer, vocab + [""])                    # (U + 1, 77) bool
        cover, mix_cover = object_cover(dataset.images, 4), object_cover(mixes.images, 4)
        scaling = vae.config.scaling_factor
        n_mix = round(cfg.batch * data.mix_share)
        start = _load_checkpoint(out, model, ema, opt, gen) if resume else 0
        losses, shares = [], []
        model.train()
        bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="miniworld-dit", mininterval=10)
        for step in bar:
            idx = torch.randint(len(dataset), (cfg.batch - n_mix,), generator=gen)
            jdx = torch.randint(len(mixes), (n_mix,), generator=gen)
            mu, sd = torch.cat([mean[idx], mix_mean[jdx]]), torch.cat([std[idx], mix_std[jdx]])
            x0 = (mu + sd * torch.randn(sd.shape, generator=gen)) * scaling
            w = weight_b[jdx]
            context = torch.cat([cond[caption_row[idx]], torch.lerp(cond[row_a[jdx]], cond[row_b[jdx]],
                                                                      w.view(-1, 1, 1))])
            vector = torch.cat([pooled[caption_row[idx]], torch.lerp(pooled[row_a[jdx]], pooled[row_b[jdx]],
                                                                       w.view(-1, 1))])
            drop = torch.rand(cfg.batch, generator=gen) < data.caption_dropout
            context = torch.where(drop.view(-1, 1, 1), cond[len(vocab)], context)
            vector = torch.where(drop.view(-1, 1), pooled[len(vocab)], vector)
            rows = torch.where(drop, len(vocab), torch.cat([caption_row[idx], row_a[jdx]]))
            sigma = torch.sigmoid(torch.randn(cfg.batch, generator=gen))      # logit-normal (0, 1)
            noise = torch.randn(x0.shape, generator=gen)
            s = sigma.view(-1, 1, 1, 1)
            noisy = (1 - s) * x0 + s * noise
            maps.clear()
            pred = model(hidden_states=noisy, encoder_hidden_states=context, pooled_projections=vector,
                         timestep=sigma * 1000).sample
            flow = F.mse_loss(pred, noise - x0)
            ground, inside, area = grounding_loss(maps, named[rows], torch.cat([cover[idx], mix_cover[jdx]]))
            loss = flow + cfg.grounding_weight * ground
            _step(opt, loss, cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup), max_norm=1.0)
            ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
            losses.append(flow.item())
            shares.append((inside, area))
            if step % cfg.log_every == 0 or step == cfg.steps - 1:
                recent = np.array(shares[-cfg.log_every:])
                bar.write(f"[{time.strftime('%H:%M:%S')}] step {step}/{cfg.steps} flow loss "
                          f"{np.mean(losses[-cfg.log_every:]):.4f} grounding {ground.item():.4f} (object words' mass "
                          f"inside the object {recent[:, 0].mean():.3f}, its area {recent[:, 1].mean():.3f})")
            if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
                _save_checkpoint(out, step + 1, model, ema, opt, gen)
    ema.eval()
    recent = np.array(shares[-200:]) if shares else np.zeros((1, 2))
    grounding = {"inside_share": round(float(recent[:, 0].mean()), 4),
                 "area_share": round(float(recent[:, 1].mean()), 4)}
    save(out, build_pipeline(ema, tokenizer, text_encoder, vae, cfg.shift))
    if cfg.steps >= 10:
        save_samples(out)
    shutil.rmtree(out / "_checkpoint", ignore_errors=True)
    times["total"] = tuple(sum(t[i] for t in times.values()) for i in range(2))
    record = {"config": asdict(cfg), "data": {k: v for k, v in asdict(data).items() if k in (
                  "seed", "images", "held_out", "paint_mixes", "mix_share", "caption_dropout")},
              "max_sequence_length": TEXT_LENGTH,
              "parameters": sum(p.numel() for p in ema.parameters()),
              "seconds": {k: round(v[0], 1) for k, v in times.items()},
              "cpu_seconds": {k: round(v[1], 1) for k, v in times.items()},
              "flow_loss_last_100_steps": round(float(np.mean(losses[-100:])), 4) if losses else None,
              "grounding_last_200_steps": grounding}
    (out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    log("seconds per stage (wall / CPU): " + ", ".join(f"{k} {w:.0f}/{c:.0f}" for k, (w, c) in times.items()))
    return record


def save(out: Path, pipe) -> None:
    """The pipeline folder (safetensors) plus miniworld's preview map and word lists, which hold for it too."""
    pipe.save_pretrained(str(out), safe_serialization=True)
    for name in ("latent_rgb.json", "concepts.txt", "words.txt"):
        shutil.copyfile(MINIWORLD / name, out / name)
    for part, name in (("vae", "config.json"), ("transformer", "config.json"), ("text_encoder", "config.json"),
                       ("text_encoder_2", "config.json")):
        path = out / part / name
        config = json.loads(path.read_text())
        if config.pop("_name_or_path", None) is not None:             # no path of this machine in the folder
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _save_checkpoint(out: Path, step: int, model, ema, opt, gen) -> None:
    path = out / "_checkpoint"
    path.mkdir(exist_ok=True)
    torch.save({"step": step, "model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                "gen": gen.get_state(), "torch": torch.get_rng_state()}, path / "dit.pt.tmp")
    (path / "dit.pt.tmp").replace(path / "dit.pt")


def _load_checkpoint(out: Path, model, ema, opt, gen) -> int:
    path = out / "_checkpoint" / "dit.pt"
    if not path.is_file():
        return 0
    state = torch.load(path, weights_only=False)
    model.load_state_dict(state["model"])
    ema.load_state_dict(state["ema"])
    opt.load_state_dict(state["opt"])
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    log(f"resuming from the checkpoint at step {state['step']}")
    return state["step"]


def export_checkpoint(out: Path, dest: Path, shift: float = DitConfig.shift) -> int:
    """Write the EMA weights of `out`'s current checkpoint as a pipeline folder at `dest` (a usable model before the
    run ends); returns the checkpoint's step."""
    state = torch.load(out / "_checkpoint" / "dit.pt", weights_only=False)
    tokenizer, text_encoder, vae = load_miniworld()
    cfg = DitConfig(**json.loads((out / "_config.json").read_text()))
    model = build_transformer(cfg, 2 * text_encoder.config.hidden_size, 2 * text_encoder.config.projection_dim)
    model.load_state_dict(state["ema"])
    save(dest, build_pipeline(model.eval(), tokenizer, text_encoder, vae, shift))
    return state["step"]


SAMPLE_PROMPTS = ("a large red circle in the middle", "a small blue square on the left", "a triangle",
                  "a big green cross at the top", "a purple triangle at the bottom", "an orange circle on the right")


@torch.no_grad()
def save_samples(out: Path, steps: int = 25, seeds: int = 6) -> None:
    """Load the saved folder as SD3 is loaded and write samples.png (prompts x seeds)."""
    from diffusers import StableDiffusion3Pipeline
    from PIL import Image

    pipe = StableDiffusion3Pipeline.from_pretrained(str(out), text_encoder_3=None, tokenizer_3=None)
    pipe.set_progress_bar_config(disable=True)
    rows = []
    for prompt in SAMPLE_PROMPTS:
        generators = [torch.Generator("cpu").manual_seed(s) for s in range(seeds)]
        images = pipe([prompt] * seeds, num_inference_steps=steps, guidance_scale=5.0, generator=generators,
                      height=64, width=64, max_sequence_length=TEXT_LENGTH, output_type="np").images
        rows.append(np.concatenate(list((images * 255).round().astype(np.uint8)), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(out / "samples.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the diffusers pipeline")
    parser.add_argument("--quick", action="store_true", help="a few steps, small data (smoke test)")
    parser.add_argument("--resume", action="store_true", help="go on from the checkpoint in --out")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export", type=Path, default=None,
                        help="only write --out's latest checkpoint (EMA) as a pipeline folder here")
    args = parser.parse_args(argv)
    if args.export is not None:
        log(f"exported the checkpoint at step {export_checkpoint(args.out, args.export)} to {args.export}")
        return
    cfg = replace(DitConfig(seed=args.seed), **(QUICK if args.quick else {}))
    if args.steps is not None:
        if args.steps < 1:
            raise SystemExit(f"--steps: expected a positive integer, received {args.steps}")
        cfg = replace(cfg, steps=args.steps)
    data = replace(DATA, images=64, paint_mixes=16) if args.quick else DATA
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "_config.json").write_text(json.dumps(asdict(cfg)) + "\n")
    train(cfg, args.out, resume=args.resume, data=data)
    (args.out / "_config.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
