"""Response curves of a walk: how similar each frame is to each end, and where the picture flips."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from explorer.explore.walks import Walk, pixel_correlation
from explorer.generation.noise import initial_noise, latent_shape
from explorer.messages import say
from explorer.models.loaded import LoadedModel
from explorer.text.encoding import encode_pooled
from explorer.text.phrases import is_expression, strip_prefix
from explorer.text.vectors import cosine_similarity, lerp, slerp


@dataclass
class Curves:
    positions: np.ndarray                             # (n,) segment + t per frame
    ends: list[str]                                   # one label per end
    measures: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n, n_ends) similarity
    flips: dict[str, list[float]] = field(default_factory=dict)    # name -> positions where the nearest end changes
    notes: list[str] = field(default_factory=list)


def flip_positions(positions: np.ndarray, similarity: np.ndarray) -> list[float]:
    """Where the most similar end changes from one frame to the next (midpoint between the two frames)."""
    nearest = similarity.argmax(axis=1)                                   # (n,)
    return [float((positions[i] + positions[i + 1]) / 2) for i in range(len(nearest) - 1)
            if nearest[i] != nearest[i + 1]]


def response_curves(model: LoadedModel, walk: Walk, vision=None) -> Curves:
    """Similarity of each finished frame to each end: input side (text or noise), pixels, and CLIP if available."""
    frames = walk.done
    positions = np.array([f.position for f in frames])
    n_ends = max(len(walk.prompts), len(walk.seeds))
    prompts = walk.prompts if len(walk.prompts) > 1 else walk.prompts * n_ends
    seeds = walk.seeds if len(walk.seeds) > 1 else walk.seeds * n_ends
    labels = [say("explore.curves.end_prompt_seed", prompt=strip_prefix(p)[:40], seed=s) if len(walk.seeds) > 1
              else strip_prefix(p)[:48] for p, s in zip(prompts, seeds)] if len(walk.prompts) > 1 else \
        [say("explore.curves.end_seed", seed=s) for s in seeds]
    curves = Curves(positions, labels)
    if not frames:
        return curves
    # 1. input side: the pooled text vector moves with the conditioning; the noise moves with the seeds
    if len(walk.prompts) > 1 and not any(is_expression(p) for p in walk.prompts):
        pooled = encode_pooled(model, [strip_prefix(p) for p in walk.prompts])            # (n_ends, d)
        interp = slerp if walk.method == "slerp" else (lambda a, b, t, dim=-1: lerp(a, b, t))
        moved = torch.stack([interp(pooled[f.segment], pooled[f.segment + 1], f.t) for f in frames])  # (n, d)
        curves.measures[say("explore.curves.text")] = cosine_similarity(moved[:, None, :], pooled[None]).numpy()
    if len(walk.seeds) > 1:
        shape = latent_shape(model, frames[0].recipe)
        noise = torch.stack([initial_noise(f.recipe, shape).flatten() for f in frames])         # (n, D)
        ends = torch.stack([initial_noise(frames[0].recipe.with_(seed=s, variation_seed=None, variations=()), shape).flatten()
                            for s in walk.seeds])                                               # (n_ends, D)
        curves.measures[say("explore.curves.noise")] = cosine_similarity(noise[:, None, :], ends[None]).numpy()
    # 2. the pictures themselves: pixel correlation with each end's image
    end_frames = [frames[0]] + [f for f in frames if f.t == 1.0]
    if len(end_frames) == n_ends:
        pixels = [np.asarray(f.image.convert("RGB")) for f in frames]
        curves.measures[say("explore.curves.pixels")] = np.array([[pixel_correlation(p, np.asarray(e.image.convert("RGB")))
                                               for e in end_frames] for p in pixels])
    else:
        curves.notes.append(say("explore.curves.pixels_stopped"))
    # 3. CLIP: image-to-text for prompt walks, image-to-image for seed walks
    if vision is not None:
        images = [f.image for f in frames]
        if len(walk.prompts) > 1:
            curves.measures[say("explore.curves.clip_text")] = vision.similarity(images, [strip_prefix(p) for p in walk.prompts])
        elif len(end_frames) == n_ends:
            curves.measures[say("explore.curves.clip_image")] = vision.image_embeds(images) @ \
                vision.image_embeds([e.image for e in end_frames]).T
    else:
        curves.notes.append(say("explore.curves.no_vision"))
    for name, sim in curves.measures.items():
        curves.flips[name] = flip_positions(positions, sim)
    return curves
