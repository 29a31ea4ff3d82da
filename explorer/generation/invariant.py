"""Batch invariance: an image made in a batch with other users' images gets the pixels it gets alone.

A result must not depend on who else pressed Generate at the same moment. Matrix products on CPU
and GPU may pick a different kernel (and so a different order of float additions) for a different
number of rows; "Defeating Nondeterminism in LLM Inference" (He & Thinking Machines Lab, 2025) calls
the property that rules this out *batch invariance*. Measured on this project's UNets (explorer's
tests, CPU): convolutions, group norms, attention and the token-wise linear layers are batch
invariant; the linear layers that see one row per image — the timestep embedding, each ResNet's
time projection, SDXL's added-condition embedding — are not (a 2-row and a 16-row product differ
in the last bit). With one CPU thread (OMP_NUM_THREADS=1: a one-core VM, a laptop told to share) the
1x1 convolutions are not either: a ResNet's channel-changing shortcut, 8 images (16 rows) against
one, differs in the last bit on tiny-random, tiny-random-xl and miniworld (oneDNN blocks 16 rows
differently), while 3x3 convolutions stay invariant. Inside `per_image_rows`, those layers compute
each image's rows exactly as its solo run does (the same rows, in the same order, in one call), so
the rest of the batch cannot change them.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from explorer.models import vae
from explorer.models.tiny_decoder import decode_tiny


def guidance_groups(images: int, guided: bool) -> list[list[int]]:
    """Each image's rows of the UNet batch: diffusers runs [negatives..., positives...] with guidance on."""
    return [[i, images + i] for i in range(images)] if guided else [[i] for i in range(images)]


@contextmanager
def per_image_rows(unet: torch.nn.Module, groups: list[list[int]]) -> Iterator[None]:
    """While inside, every nn.Linear of `unet` fed a 2-D (rows, features) input of the whole batch, and every 1x1
    nn.Conv2d fed the whole batch, computes it group by group: rows `groups[k]` in one call, as image k's solo run
    (rows [negative, positive]) does."""
    rows = sum(len(g) for g in groups)
    index = [torch.tensor(g) for g in groups]
    layers = [m for m in unet.modules() if isinstance(m, torch.nn.Linear) or _pointwise_conv(m)]

    def grouped(module):
        plain = type(module).forward
        wanted = 2 if isinstance(module, torch.nn.Linear) else 4

        def forward(x: torch.Tensor) -> torch.Tensor:
            if x.dim() != wanted or x.shape[0] != rows or len(groups) == 1:
                return plain(module, x)
            parts = [plain(module, x[g]) for g in index]
            out = x.new_empty(rows, *parts[0].shape[1:])
            for g, part in zip(index, parts):
                out[g] = part
            return out
        return forward

    for module in layers:
        module.forward = grouped(module)            # an instance attribute: nn.Module.__call__ finds it first
    try:
        yield
    finally:
        for module in layers:
            del module.forward                      # back to the class's forward


def _pointwise_conv(module: torch.nn.Module) -> bool:
    """A 1x1 convolution: a matrix product over the batch's pixels, blocked by the row count single-threaded."""
    return isinstance(module, torch.nn.Conv2d) and module.kernel_size == (1, 1)


def decode_alone(model, latents, height: int | None = None, width: int | None = None, decoder: str = "full"):
    """One image's final latent (1, C, h, w) -> PIL image, as a one-image pipeline call decodes it (a batched VAE
    call is not batch invariant either). height, width: the image's, where the family packs latents (FLUX).
    decoder: "tiny" decodes with the family's tiny decoder (models.tiny_decoder) instead of the VAE."""
    latents = model.adapter.unpack_latents(model.pipe, latents, height, width)
    pixels = decode_tiny(model, latents) if decoder == "tiny" else vae.decode(model.pipe, latents)
    return model.pipe.image_processor.postprocess(pixels, output_type="pil")[0]
