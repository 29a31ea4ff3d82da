"""Top-k sparse autoencoders on the denoiser's residual updates, in the design and file format of Surkov et al.

Surkov, Wendler, Mari, Terekhov, Deschenaux, West, Gulcehre, Bau, "Unpacking SDXL Turbo: Interpreting Text-to-Image
Models with Sparse Autoencoders" (NeurIPS 2025; code github.com/surkovv/sdxl-unbox, SAE/sae.py, itself adapted from
OpenAI's sparse_autoencoder, Gao et al. 2024):

    latents = relu(topk(encoder(x - pre_bias) + latent_bias))        # k of n_dirs features per position
    recons  = decoder(latents) + pre_bias                            # decoder columns of unit norm

x is a block's residual update (its output minus its input) at one spatial position. Dead features (none of the
last `dead_steps_threshold` batches fired them) are revived by an auxiliary top-`auxk` loss on the residual.

A checkpoint is the paper's folder: config.json ({n_dirs_local, d_model, k, auxk, dead_steps_threshold}),
state_dict.pth ({"state_dict": ...}), mean.pt and std.pt (each feature's mean and standard deviation of its
activation, (n_dirs,); painting scales a feature by its mean). `load_sae` reads the published SDXL-Turbo folders
(e.g. `unet.down_blocks.2.attentions.1_k10_hidden5120_auxk256_bs4096_lr0.0001/final`) and ours alike.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from explorer.errors import InputError
from explorer.messages import say

CONFIG_FILE, WEIGHTS_FILE, MEAN_FILE, STD_FILE = "config.json", "state_dict.pth", "mean.pt", "std.pt"
AUXK_COEF = 1 / 32                   # weight of the auxiliary dead-feature loss (OpenAI's sparse_autoencoder default)


class TopKSAE(nn.Module):
    """latents = relu(topk(W_enc (x - b_pre) + b_lat)); x_hat = W_dec latents + b_pre (parameter names as the paper's)."""

    def __init__(self, d_model: int, n_dirs: int, k: int, auxk: int | None = None, dead_steps_threshold: int = 256):
        super().__init__()
        self.d_model, self.n_dirs, self.k, self.auxk = d_model, n_dirs, k, auxk
        self.dead_steps_threshold = dead_steps_threshold
        self.encoder = nn.Linear(d_model, n_dirs, bias=False)
        self.decoder = nn.Linear(n_dirs, d_model, bias=False)
        self.pre_bias = nn.Parameter(torch.zeros(d_model))
        self.latent_bias = nn.Parameter(torch.zeros(n_dirs))
        self.register_buffer("stats_last_nonzero", torch.zeros(n_dirs, dtype=torch.long))
        self.register_buffer("mean", torch.zeros(n_dirs))       # per feature: mean activation (mean.pt)
        self.register_buffer("std", torch.zeros(n_dirs))        # and its standard deviation (std.pt)
        self.decoder.weight.data = self.encoder.weight.data.T.clone()      # "tied" init, then unit columns
        unit_norm_decoder_(self)

    def pre_acts(self, x: torch.Tensor) -> torch.Tensor:
        """(..., d_model) -> (..., n_dirs) before the top-k."""
        return self.encoder(x - self.pre_bias) + self.latent_bias

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(..., d_model) -> (..., n_dirs) sparse: k nonzero per row."""
        pre = self.pre_acts(x)
        values, indices = torch.topk(pre, k=self.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, indices, torch.relu(values))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents) + self.pre_bias

    def direction(self, feature: int) -> torch.Tensor:
        """(d_model,): the unit decoder column that painting adds."""
        return self.decoder.weight[:, feature]

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(normalised MSE + AUXK_COEF * auxiliary loss, normalised MSE) for a batch (N, d_model); updates dead stats."""
        pre = self.pre_acts(x)
        values, indices = torch.topk(pre, k=self.k, dim=-1)
        latents = torch.zeros_like(pre).scatter_(-1, indices, torch.relu(values))
        recons = self.decode(latents)
        fired = torch.zeros(self.n_dirs, dtype=torch.bool, device=x.device)
        fired[indices[values > 1e-3]] = True
        self.stats_last_nonzero.mul_(~fired).add_(1)
        variance = (x - x.mean(0)).pow(2).sum(-1).mean()
        mse = (recons - x).pow(2).sum(-1).mean() / variance
        total = mse
        dead = self.stats_last_nonzero > self.dead_steps_threshold
        if self.auxk and dead.any():                    # dead features learn to explain what the live ones miss
            aux_values, aux_indices = torch.topk(pre.masked_fill(~dead, -math.inf), k=min(self.auxk, int(dead.sum())),
                                                 dim=-1)
            aux = torch.zeros_like(pre).scatter_(-1, aux_indices, torch.relu(aux_values))
            residual = (x - recons).detach()
            total = total + AUXK_COEF * (self.decoder(aux) - residual).pow(2).sum(-1).mean() / variance
        return total, mse

    def config(self) -> dict:
        return {"n_dirs_local": self.n_dirs, "d_model": self.d_model, "k": self.k, "auxk": self.auxk,
                "dead_steps_threshold": self.dead_steps_threshold}


def unit_norm_decoder_(sae: TopKSAE) -> None:
    """Decoder columns to unit norm (paper: SAE/sae.py unit_norm_decoder_)."""
    sae.decoder.weight.data /= sae.decoder.weight.data.norm(dim=0, keepdim=True).clamp_min(1e-12)


def project_decoder_grad_(sae: TopKSAE) -> None:
    """Remove the gradient's component along each unit decoder column (paper: unit_norm_decoder_grad_adjustment_)."""
    w, g = sae.decoder.weight.data, sae.decoder.weight.grad
    g -= (w * g).sum(0, keepdim=True) * w


def save_sae(sae: TopKSAE, folder: Path) -> None:
    """The paper's checkpoint folder: config.json, state_dict.pth, mean.pt, std.pt."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(sae.config()) + "\n", encoding="utf-8")
    state = {k: v for k, v in sae.state_dict().items() if k not in ("mean", "std")}
    torch.save({"state_dict": state}, folder / WEIGHTS_FILE)
    torch.save(sae.mean.clone(), folder / MEAN_FILE)
    torch.save(sae.std.clone(), folder / STD_FILE)


def load_sae(folder: Path) -> TopKSAE:
    """An SAE from a checkpoint folder in the paper's format (its published SDXL-Turbo checkpoints or ours)."""
    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise InputError("sae", say("sae.folder"), str(folder))
    cfg = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    sae = TopKSAE(cfg["d_model"], cfg["n_dirs_local"], cfg["k"], cfg.get("auxk"), cfg.get("dead_steps_threshold", 256))
    state = torch.load(folder / WEIGHTS_FILE, map_location="cpu", weights_only=True)["state_dict"]
    for name in (MEAN_FILE, STD_FILE):
        if (folder / name).is_file():
            state[name[:-3]] = torch.load(folder / name, map_location="cpu", weights_only=True).float()
    missing = sae.load_state_dict(state, strict=False).missing_keys
    if set(missing) - {"mean", "std", "stats_last_nonzero"}:
        raise InputError("sae", say("sae.folder"), str(folder), hint=", ".join(missing))
    return sae.eval()


def block_of_folder(name: str) -> str:
    """The UNet module a checkpoint folder belongs to: 'unet.down_blocks.2.attentions.1_k10_hidden5120...' ->
    'down_blocks.2.attentions.1' (the paper's naming); our folders are named for the module already."""
    name = name.split("_k", 1)[0] if name.startswith("unet.") else name
    return name.removeprefix("unet.")


@dataclass
class BlockSAEs:
    """One SAE per UNet block (module path, e.g. 'up_blocks.1.attentions.0'), read from one folder of checkpoints."""

    saes: dict[str, TopKSAE]

    @classmethod
    def from_folder(cls, folder: Path) -> "BlockSAEs":
        found = {}
        for config in sorted(Path(folder).rglob(CONFIG_FILE)):
            if (config.parent / WEIGHTS_FILE).is_file():
                top = config.parent if config.parent.parent == Path(folder) else config.parent.parent
                found[block_of_folder(top.name)] = load_sae(config.parent)
        return cls(found)

    def get(self, block: str) -> TopKSAE:
        if block not in self.saes:
            raise InputError("block", say("checks.one_of", choices=", ".join(self.saes) or "-"), block)
        return self.saes[block]

    def check_feature(self, block: str, feature) -> int:
        sae = self.get(block)
        if isinstance(feature, bool) or not isinstance(feature, int) or not 0 <= feature < sae.n_dirs:
            raise InputError("feature", say("checks.int_in", low=0, high=sae.n_dirs - 1, note=""), feature)
        return feature
