"""Pure training math for the miniature world: tensors in, tensors out, each with its source."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from explorer.models import previews


def positives_matrix(scenes: torch.Tensor, named: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: image i is a positive for caption j when every attribute caption j names matches image i.

    scenes: (B, A) attribute ids of the images; named: (B, A) ids each caption names, -1 where left out.
    """
    agree = (named[None, :, :] == -1) | (named[None, :, :] == scenes[:, None, :])   # (B_img, B_txt, A)
    return agree.all(dim=-1)


def multi_positive_contrastive_loss(image: torch.Tensor, text: torch.Tensor, positives: torch.Tensor,
                                    scale: torch.Tensor | float) -> torch.Tensor:
    """CLIP's symmetric InfoNCE (Radford et al. 2021) with every compatible pair a positive.

    Targets are uniform over the positives of each row/column (the multi-positive form of
    Khosla et al. 2020, "Supervised Contrastive Learning"). image, text: (B, D); positives: (B, B).
    """
    image = F.normalize(image, dim=-1)
    text = F.normalize(text, dim=-1)
    logits = scale * image @ text.T                                   # (B_img, B_txt)
    target = positives.float()
    image_to_text = -(target / target.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    text_to_image = -(target / target.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0).mean()
    return (image_to_text + text_to_image) / 2


def min_snr_weight(alphas_cumprod: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Per-sample loss weight min(SNR, gamma) / SNR for epsilon prediction (Hang et al. 2023, Min-SNR)."""
    snr = alphas_cumprod / (1 - alphas_cumprod)
    return snr.clamp(max=gamma) / snr


def cosine_lr(step: int, total: int, peak: float, warmup: int, floor: float = 0.1) -> float:
    """Linear warm-up to `peak`, then cosine decay to `floor * peak` (Loshchilov & Hutter 2017, SGDR)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameter by parameter (Polyak averaging)."""
    ema_params = list(ema.parameters())
    torch._foreach_lerp_(ema_params, [p.detach() for p in model.parameters()], 1 - decay)


def fit_latent_rgb(latents: torch.Tensor, rgb: torch.Tensor) -> tuple[list[list[float]], list[float]]:
    """Least-squares linear map latents (N, C, h, w) -> RGB (N, 3, h, w): factors (C, 3) and bias (3,).

    explorer.models.previews.fit_latent_rgb (ComfyUI's latent_rgb_factors, fitted, not guessed), as a pair.
    """
    fitted = previews.fit_latent_rgb(latents, rgb)
    return fitted["factors"], fitted["bias"]


def token_grounding_loss(probs: torch.Tensor, tokens: torch.Tensor, cover: torch.Tensor,
                         eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """TokenCompose's token loss (Wang et al. 2024, "TokenCompose: Text-to-Image Diffusion with Token-level
    Supervision", L_token) for one cross-attention layer: the mean over the supervised (image, token) pairs
    of (1 - the share of the token's map mass inside the object)^2.

    probs: (B, heads, q, T) attention probabilities, q = h * w; tokens: (B, T) bool, the tokens that name
    the object; cover: (B, h, w) the object's coverage of each cell in [0, 1].
    Returns (loss, the mean inside share over the supervised pairs); zero loss when no token is supervised.
    """
    maps = probs.mean(dim=1)                                             # (B, q, T): heads averaged, as DAAM
    inside = (maps * cover.flatten(1)[:, :, None]).sum(1) / (maps.sum(1) + eps)   # (B, T)
    chosen = tokens.float()
    count = chosen.sum().clamp(min=1)
    return ((1 - inside) ** 2 * chosen).sum() / count, (inside * chosen).sum().detach() / count
