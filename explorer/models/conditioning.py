"""The Conditioning: everything the denoiser needs for both halves of classifier-free guidance.

Every feature (plain prompts, arithmetic, blends, walks, axes, search, the bias probe) turns its
recipe into one of these through `explorer.generation.conditioning.conditioning_for`; the model
family's adapter (explorer.models.families) makes the tensors. A new family adds fields here
(SDXL: pooled embeddings and size ids) and the features stay as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch

NOT_TENSORS = ("weights", "schedule")                        # the fields that are no tensors of the halves


@dataclass(frozen=True)
class Conditioning:
    """Sequence embeddings for B images (or, with `weights`, n sequences composed into one image)."""

    prompt_embeds: torch.Tensor                              # (B, 77, d) the sequences the UNet attends to
    negative_prompt_embeds: torch.Tensor                     # (B, 77, d) the unconditional / negative half
    pooled_prompt_embeds: torch.Tensor | None = None         # (B, p) families with pooled conditioning (SDXL)
    negative_pooled_prompt_embeds: torch.Tensor | None = None
    weights: tuple[float, ...] | None = None                 # Composable Diffusion: one weight per sequence
    schedule: tuple = ()     # A1111 prompt editing: ((end_at_step, Conditioning), ...), this one first; () = fixed

    @property
    def scheduled(self) -> bool:
        """Whether the denoiser reads other tensors at later steps (generation.editing switches them)."""
        return len(self.schedule) > 1

    @property
    def composable(self) -> bool:
        return self.weights is not None

    def __len__(self) -> int:
        return int(self.prompt_embeds.shape[0])

    def pipeline_kwargs(self) -> dict:
        """Keyword arguments of the diffusers pipeline call (prompt_embeds, negative_prompt_embeds, ...)."""
        if self.composable:
            raise ValueError("a composable conditioning runs through generation.composable, not the pipeline")
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in NOT_TENSORS and getattr(self, f.name) is not None}

    def select(self, rows: slice) -> "Conditioning":
        """The conditioning of some images of a batch."""
        if self.scheduled:
            raise ValueError("a scheduled conditioning runs alone, through generate()")
        return replace(self, **{f.name: getattr(self, f.name)[rows] for f in fields(self)
                                if f.name not in NOT_TENSORS and getattr(self, f.name) is not None})

    @staticmethod
    def cat(items: list["Conditioning"]) -> "Conditioning":
        """One batch from several single-image conditionings (all of one family, none composable)."""
        if any(c.composable or c.scheduled for c in items):
            raise ValueError("composable or scheduled conditionings cannot share a batch")
        first = items[0]
        return replace(first, **{f.name: torch.cat([getattr(c, f.name) for c in items]) for f in fields(first)
                                 if f.name not in NOT_TENSORS and getattr(first, f.name) is not None})
