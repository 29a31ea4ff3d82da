"""Train the miniature world's models from scratch: tokenizer -> CLIP -> VAE -> UNet.

    python -m explorer.miniworld.train --out assets/miniworld           # the shipped weights
    python -m explorer.miniworld.train --out /tmp/mw --quick            # a few steps (smoke test)
    python -m explorer.miniworld.train --out DIR --resume               # skip stages already saved

Deterministic: every stage seeds torch from `TrainConfig.seed` and draws its batches from its own
seeded generator, so the same machine and thread count give the same weights. Each stage saves
its model before the next starts; the UNet also checkpoints while it trains (`--resume` picks up
from there).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

# On a shared CPU, OpenMP threads that spin while waiting for a descheduled partner slow training
# down several times over (measured here: 11 s instead of 2 s a CLIP step); waiting passively
# costs little when the cores are free. libgomp reads it when torch loads: set before `import torch`.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from explorer.generation.attention import attention_probabilities  # noqa: E402
from explorer.miniworld import components as C  # noqa: E402
from explorer.miniworld.losses import (cosine_lr, ema_update, fit_latent_rgb, min_snr_weight,  # noqa: E402
                                       multi_positive_contrastive_loss, positives_matrix, token_grounding_loss)
from explorer.miniworld.tokenizer import build_tokenizer, save_tokenizer  # noqa: E402
from explorer.world.scenes import (BACKGROUND, COLOURS, HELD_OUT, POSITION_PHRASES, POSITIONS, SHAPES,  # noqa: E402
                                      SIZE_WORDS, SIZES, Dataset, PaintMixes, check_held_out, full_caption,
                                      make_dataset, make_paint_mixes, parse_caption, vocabulary)

CLIP_TOKENS = 24                     # caption length while training CLIP (its pooled output ignores padding)
ATTRIBUTES = (("shape", SHAPES), ("colour", tuple(COLOURS)), ("size", tuple(SIZES)),
              ("position", tuple(POSITIONS)))


@dataclass
class TrainConfig:
    """Everything that decides the shipped weights (defaults: the shipped run)."""

    seed: int = 0                    # seeds the dataset, every initialisation and every batch
    images: int = 20000              # size of the generated training set
    held_out: tuple[str, ...] = HELD_OUT   # colour-shape combinations no image or caption shows
    paint_mixes: int = 4000          # shapes painted between two palette colours (conditioning mixup)
    mix_share: float = 0.25          # share of every VAE and UNet batch drawn from the paint mixes
    threads: int = 2                 # torch CPU threads
    clip_steps: int = 1000           # contrastive steps
    clip_batch: int = 128
    clip_lr: float = 1e-3
    vae_steps: int = 1500            # reconstruction steps
    vae_batch: int = 16
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-6      # weight of the summed KL term against the per-pixel L1
    vae_shape_weight: float = 4.0    # extra L1 weight on shape pixels (small shapes cover ~5% of an image)
    unet_steps: int = 2400           # denoising steps
    unet_batch: int = 64
    unet_lr: float = 5e-4
    caption_dropout: float = 0.1     # share of captions replaced by "" (for classifier-free guidance)
    ema_decay: float = 0.998         # the shipped UNet is the exponential moving average
    min_snr_gamma: float = 5.0       # Min-SNR loss weighting (Hang et al. 2023)
    grounding_weight: float = 0.05   # weight of TokenCompose's token loss: object words attend to the object
    warmup: int = 100                # linear learning-rate warm-up steps, then cosine decay
    checkpoint_every: int = 250      # UNet steps between checkpoints
    log_every: int = 50
    sizes: C.ModelSizes = field(default_factory=C.ModelSizes)


QUICK = dict(images=64, paint_mixes=16, clip_steps=3, clip_batch=16, vae_steps=3, vae_batch=8, unet_steps=3,
             unet_batch=16, warmup=1, checkpoint_every=2, log_every=1)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pixels(images: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def attribute_table(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Scene attributes (N, 4) and the attributes each caption names (N, 4), -1 where left out."""
    scenes = torch.tensor([[values.index(getattr(s, key)) for key, values in ATTRIBUTES] for s in dataset.scenes])
    named = []
    for text in dataset.captions:
        found = parse_caption(text)
        named.append([values.index(found[key]) if key in found else -1 for key, values in ATTRIBUTES])
    return scenes, torch.tensor(named)


def stage_tokenizer(out: Path):
    """1. A CLIPTokenizer whose vocabulary is the grammar (every grammar word one token)."""
    tokenizer = build_tokenizer()
    save_tokenizer(tokenizer, out / "tokenizer")
    return tokenizer


def stage_clip(cfg: TrainConfig, dataset: Dataset, tokenizer, out: Path):
    """2. CLIP trained contrastively; every caption compatible with an image counts as its positive."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    clip = C.build_clip(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id, cfg.sizes)
    ids = tokenizer(dataset.captions, padding="max_length", max_length=CLIP_TOKENS, truncation=True,
                    return_tensors="pt").input_ids
    scenes, named = attribute_table(dataset)
    opt = torch.optim.AdamW(clip.parameters(), lr=cfg.clip_lr, weight_decay=0.05)
    clip.train()
    for step in range(cfg.clip_steps):
        idx = torch.randint(len(dataset), (cfg.clip_batch,), generator=gen)
        text = clip.text_projection(clip.text_model(input_ids=ids[idx]).pooler_output)
        pixel_values = C.clip_pixels(pixels(dataset.images[idx.numpy()]))          # (B, 3, 64, 64)
        image = clip.visual_projection(clip.vision_model(pixel_values=pixel_values).pooler_output)
        loss = multi_positive_contrastive_loss(image, text, positives_matrix(scenes[idx], named[idx]),
                                               clip.logit_scale.clamp(max=math.log(100)).exp())
        _step(opt, loss, cosine_lr(step, cfg.clip_steps, cfg.clip_lr, cfg.warmup))
        if step % cfg.log_every == 0 or step == cfg.clip_steps - 1:
            log(f"clip step {step}/{cfg.clip_steps} loss {loss.item():.4f} scale {clip.logit_scale.exp().item():.1f}")
    clip.eval()
    from transformers import CLIPProcessor

    clip.save_pretrained(str(out / "clip"), safe_serialization=True)
    # a copy: a processor marks its tokenizer (processor_class), which the pipeline's tokenizer/ would then carry,
    # and a run resumed after this stage would not
    CLIPProcessor(image_processor=C.image_processor(), tokenizer=copy.deepcopy(tokenizer)).save_pretrained(
        str(out / "clip"))
    return clip


def stage_vae(cfg: TrainConfig, dataset: Dataset, mixes: PaintMixes, out: Path):
    """3. AutoencoderKL trained to reconstruct the images (L1, heavier on shape pixels, plus a small KL).

    A share of every batch are paint mixes, so that the decoder can draw the colours between the
    palette's, which the UNet learns to ask for in stage 4.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    vae = C.build_vae(cfg.sizes)
    background = torch.tensor(BACKGROUND, dtype=torch.float32).view(1, 3, 1, 1) / 127.5 - 1
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    vae.train()
    n_mix = round(cfg.vae_batch * cfg.mix_share)
    for step in range(cfg.vae_steps):
        idx = torch.randint(len(dataset), (cfg.vae_batch - n_mix,), generator=gen).numpy()
        jdx = torch.randint(len(mixes), (n_mix,), generator=gen).numpy()
        x = pixels(np.concatenate([dataset.images[idx], mixes.images[jdx]]))  # (B, 3, 64, 64)
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample(generator=gen)).sample
        shape_pixels = ((x - background).abs().amax(1, keepdim=True) > 0.1).float()
        weight = 1 + cfg.vae_shape_weight * shape_pixels
        rec = (weight * (recon - x).abs()).mean()
        kl = posterior.kl().mean()
        loss = rec + cfg.vae_kl_weight * kl
        _step(opt, loss, cosine_lr(step, cfg.vae_steps, cfg.vae_lr, cfg.warmup))
        if step % cfg.log_every == 0 or step == cfg.vae_steps - 1:
            log(f"vae step {step}/{cfg.vae_steps} l1 {rec.item():.4f} kl {kl.item():.1f}")
    vae.eval()
    # the pipeline multiplies latents by scaling_factor: pick it so they have unit variance (as SD's 0.18215)
    mean, std = encode_images(vae, dataset.images)
    scaling = float(1 / torch.cat([mean, mean + std * torch.randn_like(std)]).std())
    vae.register_to_config(scaling_factor=scaling)
    rgb = F.avg_pool2d(pixels(dataset.images), C.vae_factor(cfg.sizes))    # (N, 3, h, w) like the latents
    factors, bias = fit_latent_rgb(mean * scaling, rgb)
    (out / "latent_rgb.json").write_text(json.dumps({"factors": factors, "bias": bias}, indent=1) + "\n")
    log(f"vae scaling_factor {scaling:.4f}; latent std {float((mean * scaling).std()):.3f}")
    vae.save_pretrained(str(out / "vae"), safe_serialization=True)
    return vae, mean, std


@torch.no_grad()
def encode_images(vae, images: np.ndarray, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and std (N, 4, h, w) of every image (N, H, W, 3) uint8, unscaled."""
    means, stds = [], []
    for start in range(0, len(images), batch):
        dist = vae.encode(pixels(images[start:start + batch])).latent_dist
        means.append(dist.mean)
        stds.append(dist.std)
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def encode_captions(tokenizer, text_encoder, captions: list[str], batch: int = 256) -> torch.Tensor:
    """(U, 77, d) text conditioning, computed exactly as StableDiffusionPipeline.encode_prompt does."""
    states = []
    for start in range(0, len(captions), batch):
        ids = tokenizer(captions[start:start + batch], padding="max_length", max_length=tokenizer.model_max_length,
                        truncation=True, return_tensors="pt").input_ids
        states.append(text_encoder(ids)[0])
    return torch.cat(states)


FOREGROUND_LEVEL = 24                # a pixel this far (max over RGB) from the background belongs to the shape


def object_cover(images: np.ndarray, factor: int) -> torch.Tensor:
    """(N, H/factor, W/factor) share of each latent cell covered by the shape, from images (N, H, W, 3) uint8."""
    far = np.abs(images.astype(np.int16) - np.array(BACKGROUND, np.int16)).max(-1) > FOREGROUND_LEVEL
    return F.avg_pool2d(torch.from_numpy(far).float()[:, None], factor)[:, 0]


def object_tokens(tokenizer, captions: list[str]) -> torch.Tensor:
    """(U, 77) bool: the positions of the words that name the object (its colour, its shape or "shape")."""
    pieces = [tokenizer(w, add_special_tokens=False).input_ids for w in (*COLOURS, *SHAPES, "shape")]
    assert all(len(p) == 1 for p in pieces), "every grammar word is one token"
    ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    return torch.isin(ids, torch.tensor([p[0] for p in pieces]))


class RecordingProcessor:
    """A cross-attention processor's output unchanged; its probabilities kept, with gradients, for the loss."""

    def __init__(self, inner, maps: list):
        self.inner, self.maps = inner, maps

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        if encoder_hidden_states is not None:
            self.maps.append(attention_probabilities(attn, hidden_states, encoder_hidden_states, attention_mask,
                                                     temb))
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)


def grounding_loss(maps: list[torch.Tensor], tokens: torch.Tensor, cover: torch.Tensor
                   ) -> tuple[torch.Tensor, float, float]:
    """TokenCompose's token loss averaged over the recorded layers (maps: (B, heads, q, T) each, square grids);
    also the mean inside share and the objects' mean area share (of the images with a supervised token)."""
    losses, inside = [], []
    for probs in maps:
        side = int(round(math.sqrt(probs.shape[2])))
        at_layer = F.adaptive_avg_pool2d(cover[:, None], (side, probs.shape[2] // side))[:, 0]
        loss, share = token_grounding_loss(probs, tokens, at_layer)
        losses.append(loss)
        inside.append(float(share))
    chosen = tokens.any(1)
    area = float(cover[chosen].mean()) if chosen.any() else 0.0
    return torch.stack(losses).mean(), float(np.mean(inside)), area


def stage_unet(cfg: TrainConfig, dataset: Dataset, mixes: PaintMixes, tokenizer, text_encoder, vae,
               posteriors: dict[str, tuple[torch.Tensor, torch.Tensor]], out: Path):
    """4. UNet2DConditionModel denoising VAE latents, conditioned on the frozen CLIP text encoder.

    posteriors: the VAE's (mean, std) of the dataset's images ("data") and of the paint mixes ("mixes").
    A share of each batch are paint mixes conditioned on the lerp of their two captions'
    conditionings at the mix weight (conditioning mixup, after Zhang et al. 2018, "mixup").
    The words that name the object (colour, shape) are taught to attend to it: TokenCompose's token
    loss (Wang et al. 2024) on every cross-attention layer, weighted `grounding_weight`, so that the
    explorer's attention maps show where a word acts (a model trained on the denoising loss alone
    attended uniformly: 0.98 of the area share inside the shape).
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + 3)
    scheduler = C.build_scheduler()
    alphas = scheduler.alphas_cumprod                                      # (1000,)
    unet = C.build_unet(cfg.sizes)
    maps: list[torch.Tensor] = []
    unet.set_attn_processor({name: RecordingProcessor(processor, maps) if name.endswith("attn2.processor")
                             else processor for name, processor in unet.attn_processors.items()})
    ema = C.build_unet(cfg.sizes)
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.unet_lr, weight_decay=0.01)
    # conditioning: one (77, d) sequence per distinct caption; the last row is the empty prompt
    vocab = sorted(set(dataset.captions) | set(mixes.captions_a) | set(mixes.captions_b))
    cond = encode_captions(tokenizer, text_encoder, vocab + [""])          # (U + 1, 77, d)
    caption_row = torch.tensor(_index_of(vocab, dataset.captions))        # (N,) row of each image's caption
    row_a, row_b = (torch.tensor(_index_of(vocab, c)) for c in (mixes.captions_a, mixes.captions_b))
    weight_b = torch.from_numpy(mixes.weights).view(-1, 1, 1)              # (M, 1, 1)
    named = object_tokens(tokenizer, vocab + [""])                        # (U + 1, 77) bool
    factor = C.vae_factor(cfg.sizes)
    cover, mix_cover = object_cover(dataset.images, factor), object_cover(mixes.images, factor)
    shares: list[tuple[float, float]] = []
    (mean, std), (mix_mean, mix_std) = posteriors["data"], posteriors["mixes"]
    scaling = vae.config.scaling_factor
    n_mix = round(cfg.unet_batch * cfg.mix_share)
    start = _load_checkpoint(out, unet, ema, opt, gen)
    unet.train()
    for step in range(start, cfg.unet_steps):
        idx = torch.randint(len(dataset), (cfg.unet_batch - n_mix,), generator=gen)
        jdx = torch.randint(len(mixes), (n_mix,), generator=gen)
        mu, sigma = torch.cat([mean[idx], mix_mean[jdx]]), torch.cat([std[idx], mix_std[jdx]])
        latents = (mu + sigma * torch.randn(sigma.shape, generator=gen)) * scaling
        context = torch.cat([cond[caption_row[idx]],                       # (B, 77, d)
                             torch.lerp(cond[row_a[jdx]], cond[row_b[jdx]], weight_b[jdx])])
        drop = torch.rand(cfg.unet_batch, generator=gen) < cfg.caption_dropout
        context = torch.where(drop.view(-1, 1, 1), cond[len(vocab)], context)
        rows = torch.where(drop, len(vocab), torch.cat([caption_row[idx], row_a[jdx]]))   # (B,) caption rows
        t = torch.randint(len(alphas), (cfg.unet_batch,), generator=gen)
        noise = torch.randn(latents.shape, generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
        maps.clear()
        pred = unet(noisy, t, context).sample
        weight = min_snr_weight(alphas[t], cfg.min_snr_gamma)
        denoise = (weight * (pred - noise).pow(2).mean(dim=(1, 2, 3))).mean()
        ground, inside, area = grounding_loss(maps, named[rows], torch.cat([cover[idx], mix_cover[jdx]]))
        shares.append((inside, area))
        loss = denoise + cfg.grounding_weight * ground
        _step(opt, loss, cosine_lr(step, cfg.unet_steps, cfg.unet_lr, cfg.warmup), max_norm=1.0)
        ema_update(ema, unet, min(cfg.ema_decay, (1 + step) / (10 + step)))
        if step % cfg.log_every == 0 or step == cfg.unet_steps - 1:
            recent = np.array(shares[-cfg.log_every:])
            log(f"unet step {step}/{cfg.unet_steps} loss {denoise.item():.4f} grounding {ground.item():.4f} "
                f"(object words' mass inside the object {recent[:, 0].mean():.3f}, its area {recent[:, 1].mean():.3f})")
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.unet_steps:
            _save_checkpoint(out, step + 1, unet, ema, opt, gen)
    ema.eval()
    recent = np.array(shares[-200:]) if shares else np.zeros((1, 2))       # empty when resumed at the end
    grounding = {"inside_share": round(float(recent[:, 0].mean()), 4), "area_share": round(float(recent[:, 1].mean()), 4)}
    return ema, scheduler, grounding


def _index_of(vocab: list[str], captions: list[str]) -> list[int]:
    row = {c: i for i, c in enumerate(vocab)}
    return [row[c] for c in captions]


def _step(opt, loss: torch.Tensor, lr: float, max_norm: float | None = None) -> None:
    """One optimiser step at learning rate `lr`, gradients clipped to `max_norm` (total L2) if given."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad()
    loss.backward()
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_([p for group in opt.param_groups for p in group["params"]], max_norm)
    opt.step()


def _save_checkpoint(out: Path, step: int, unet, ema, opt, gen) -> None:
    path = out / "_checkpoint"
    path.mkdir(exist_ok=True)
    torch.save({"step": step, "unet": unet.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                "gen": gen.get_state(), "torch": torch.get_rng_state()}, path / "unet.pt.tmp")
    (path / "unet.pt.tmp").replace(path / "unet.pt")


def _load_checkpoint(out: Path, unet, ema, opt, gen) -> int:
    path = out / "_checkpoint" / "unet.pt"
    if not path.is_file():
        return 0
    state = torch.load(path, weights_only=False)
    unet.load_state_dict(state["unet"])
    ema.load_state_dict(state["ema"])
    opt.load_state_dict(state["opt"])
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    log(f"unet: resuming from the checkpoint at step {state['step']}")
    return state["step"]


SAMPLE_PROMPTS = ("a large red circle in the middle", "a small blue square on the left", "a triangle",
                  "a big green cross at the top", "a purple triangle at the bottom", "an orange circle on the right")


@torch.no_grad()
def save_samples(out: Path, steps: int = 25, seeds: int = 6) -> None:
    """Load the saved folder as Stable Diffusion does and write samples.png (prompts x seeds)."""
    from diffusers import StableDiffusionPipeline
    from PIL import Image

    pipe = StableDiffusionPipeline.from_pretrained(str(out))
    pipe.set_progress_bar_config(disable=True)
    rows = []
    for prompt in SAMPLE_PROMPTS:
        generators = [torch.Generator("cpu").manual_seed(s) for s in range(seeds)]
        images = pipe([prompt] * seeds, num_inference_steps=steps, guidance_scale=5.0, generator=generators,
                      output_type="np").images
        rows.append(np.concatenate(list((images * 255).round().astype(np.uint8)), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(out / "samples.png")


def write_concepts(out: Path) -> None:
    """concepts.txt: the grammar's words and phrases by category, for the explorer's concept map."""
    lines = ["# The miniature world's vocabulary (explorer/world/scenes.py), by category.", "[colour]",
             *COLOURS, "[shape]", *SHAPES, "[size]", *(w for words in SIZE_WORDS.values() for w in words),
             "[position]", "left", "right", "middle", "centre", "top", "bottom",
             "[object]", *(full_caption(s, c) for s in SHAPES for c in COLOURS),
             "[phrase]", *(p for phrases in POSITION_PHRASES.values() for p in phrases),
             *(full_caption(s, c, z, p) for s in SHAPES for c in ("red", "blue") for z in SIZES
               for p in ("left", "middle"))]
    (out / "concepts.txt").write_text("\n".join(lines) + "\n")


WORDS_HEADER = ("# Every word of the miniature world's captions (explorer/world/scenes.py vocabulary()): the words "
                "this model was trained on, one a line.")


def write_words(out: Path) -> None:
    """words.txt: the grammar's words, so the explorer can say which words of a prompt the model never saw."""
    (out / "words.txt").write_text("\n".join([WORDS_HEADER, *vocabulary()]) + "\n")


@contextmanager
def timed(name: str, record: dict[str, tuple[float, float]]):
    """Record (wall-clock seconds, CPU seconds over all threads) of a block under `name`."""
    wall, cpu = time.time(), time.process_time()
    yield
    record[name] = (time.time() - wall, time.process_time() - cpu)


def train(cfg: TrainConfig, out: Path, resume: bool = False) -> dict:
    """Run every stage and write a StableDiffusionPipeline folder to `out`; returns the training record."""
    from diffusers import AutoencoderKL
    from transformers import CLIPModel

    torch.set_num_threads(cfg.threads)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, tuple[float, float]] = {}
    # 1. the world and the tokenizer
    with timed("data+tokenizer", times):
        held_out = check_held_out(cfg.held_out)
        dataset = make_dataset(cfg.images, cfg.seed, held_out)
        mixes = make_paint_mixes(cfg.paint_mixes, cfg.seed + 10, held_out)
        tokenizer = stage_tokenizer(out)
    log(f"{len(dataset)} images and {len(mixes)} paint mixes, {len(set(dataset.captions))} distinct captions, "
        f"vocabulary {len(tokenizer)}; "
        f"yellow share among triangles {dataset.yellow_share():.3f}; held out: {', '.join(held_out) or 'none'}")
    # 2. CLIP (contrastive)
    with timed("clip", times):
        if resume and (out / "clip" / "model.safetensors").is_file():
            clip = CLIPModel.from_pretrained(str(out / "clip")).eval()   # the tokenizer stays step 1's (no flags
                                                                           # of a loaded one in the saved folder)
        else:
            clip = stage_clip(cfg, dataset, tokenizer, out)
    # 3. VAE (reconstruction), its scaling factor and the latent->RGB preview map
    with timed("vae", times):
        if resume and (out / "vae" / "diffusion_pytorch_model.safetensors").is_file():
            vae = AutoencoderKL.from_pretrained(str(out / "vae")).eval()
            mean, std = encode_images(vae, dataset.images)
        else:
            vae, mean, std = stage_vae(cfg, dataset, mixes, out)
        posteriors = {"data": (mean, std), "mixes": encode_images(vae, mixes.images)}
    # 4. UNet on the latents, conditioned on the frozen text encoder
    with timed("unet", times):
        text_encoder = C.text_encoder_from_clip(clip)
        unet, scheduler, grounding = stage_unet(cfg, dataset, mixes, tokenizer, text_encoder, vae, posteriors, out)
    # 5. save the pipeline folder and its extras
    C.save_pipeline(out, tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, unet=unet, scheduler=scheduler)
    write_concepts(out)
    write_words(out)
    save_samples(out, steps=2 if cfg.unet_steps < 10 else 25, seeds=2 if cfg.unet_steps < 10 else 6)
    shutil.rmtree(out / "_checkpoint", ignore_errors=True)
    times["total"] = tuple(sum(t[i] for t in times.values()) for i in range(2))
    record = {"config": asdict(cfg), "threads": cfg.threads,
              "seconds": {k: round(v[0], 1) for k, v in times.items()},
              "cpu_seconds": {k: round(v[1], 1) for k, v in times.items()},
              "yellow_share_triangles": dataset.yellow_share(),
              "yellow_share_uncoloured_triangle_captions": dataset.uncoloured_caption_share(),
              "grounding_last_200_steps": grounding}
    (out / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    log("seconds per stage (wall / CPU): " + ", ".join(f"{k} {w:.0f}/{c:.0f}" for k, (w, c) in times.items()))
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the diffusers pipeline")
    parser.add_argument("--quick", action="store_true", help="a few steps of each stage (smoke test)")
    parser.add_argument("--resume", action="store_true", help="reuse saved CLIP/VAE and the UNet checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    for name in ("clip_steps", "vae_steps", "unet_steps", "images"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=None)
    args = parser.parse_args(argv)
    cfg = TrainConfig(seed=args.seed)
    if args.quick:
        cfg = replace(cfg, **QUICK)
    overrides = {k: getattr(args, k) for k in ("clip_steps", "vae_steps", "unet_steps", "images")
                 if getattr(args, k) is not None}
    for key, value in overrides.items():
        if value < 1:
            raise SystemExit(f"--{key.replace('_', '-')}: expected a positive integer, received {value}")
    train(replace(cfg, **overrides), args.out, resume=args.resume)


if __name__ == "__main__":
    main()
