"""miniworld-dit: the miniature world drawn by a small SD3 transformer trained by flow matching (assets/miniworld-dit,
explorer/miniworld/train_dit.py), through the explorer's SD3 adapter with no T5 (text_encoder_3=None, no T5 rows).

Cheap: 64 px, a few steps. The oracle's full figures are bench/bench_miniworld_dit.py's.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.models.presets import MINIWORLD_DIT_DIR, PRESETS


@pytest.fixture
def dit(miniworld_dit):
    return miniworld_dit


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_it_is_an_sd3_folder_without_t5_and_generates_as_the_pipeline_does(dit):
    from diffusers import StableDiffusion3Pipeline

    from explorer.generation.generate import generate
    from explorer.generation.recipe import recipe_defaults
    from explorer.generation.schedulers import make_scheduler

    pipe = dit.pipe
    assert type(pipe).__name__ == "StableDiffusion3Pipeline"
    assert type(pipe.transformer).__name__ == "SD3Transformer2DModel"
    assert pipe.text_encoder_3 is None and pipe.tokenizer_3 is None and pipe.transformer.config.patch_size == 2
    assert dit.adapter.text_length(pipe) == 0 and PRESETS["miniworld-dit"].family == "miniworld-dit"
    assert len(dit.latent_rgb["factors"]) == 4                          # miniworld's 4-channel map, not SD3's 16
    assert sorted(p.name for p in MINIWORLD_DIT_DIR.rglob("*") if p.suffix in (".bin", ".pt", ".ckpt")) == []
    recipe = recipe_defaults(dit, "a red circle", seed=2, steps=3)
    ours = generate(dit, recipe, watch=True)
    plain = StableDiffusion3Pipeline.from_pretrained(str(MINIWORLD_DIT_DIR), text_encoder_3=None, tokenizer_3=None)
    plain.set_progress_bar_config(disable=True)
    plain.scheduler = make_scheduler("euler", dit.base_scheduler_config, flow=True)
    with torch.inference_mode():
        theirs = plain("a red circle", num_inference_steps=3, guidance_scale=5.0, width=64, height=64,
                       max_sequence_length=0, generator=torch.Generator("cpu").manual_seed(2)).images[0]
    assert np.array_equal(_pixels(ours.image), _pixels(theirs))
    sigmas = [s.sigma for s in ours.steps]
    assert sigmas == sorted(sigmas, reverse=True) and ours.steps[0].label.startswith("σ=")


def test_views_of_the_sd3_family_work_on_it(dit):
    from explorer.explore.blends import compare
    from explorer.explore.walks import interpolate
    from explorer.generation.forward import forward_process
    from explorer.generation.recipe import recipe_defaults
    from explorer.text import encoding
    from explorer.text.arithmetic import evaluate
    from explorer.text.tokens import inspect_tokens

    packed = encoding.conditioning(dit, "a red circle")
    assert packed.shape == (1, 77 + 1, 128)                             # 77 CLIP rows (no T5 rows) + the pooled row
    report = inspect_tokens(dit, "a red circle")
    assert report.limit == 77 and not report.others                     # no T5 to show beside CLIP
    noised = forward_process(dit, Image.new("RGB", (64, 64), (215, 40, 40)), levels=3, decoder="approx")
    assert [n.sigma for n in noised] == [0.0, pytest.approx(0.5, abs=1e-3), 1.0]
    result = evaluate(dit, '"a red circle" - red + blue', "conditioning")
    assert result.conditioning.shape == packed.shape
    base = recipe_defaults(dit, "a red circle", steps=2, seed=1)
    blends = compare(dit, "a red circle", "a blue square", base, vision=False)
    assert "lerp" in [p.operator for p in blends.panels]
    walk = interpolate(dit, base, ["a red circle", "a blue circle"], [1], 3, batch_size=3)
    assert len(walk.done) == 3


def test_the_oracle_reads_the_colours_it_was_asked_for(dit):
    """A fast slice of bench/bench_miniworld_dit.py (its figures, 8 seeds and 25 steps, are in the model card): the
    colour asked for, at 10 steps. A random transformer draws no shape at all."""
    from explorer.generation.generate import generate
    from explorer.generation.recipe import recipe_defaults
    from explorer.world import oracle

    def colour(prompt: str, seed: int) -> str | None:
        image = generate(dit, recipe_defaults(dit, prompt, seed=seed, steps=10), watch=False).image
        return oracle.read(np.asarray(image.convert("RGB"))).colour

    asked = [(p, s, c) for p, c in (("a large red circle in the middle", "red"), ("a large blue square on the left",
                                                                                "blue")) for s in (0, 1)]
    assert sum(colour(p, s) == c for p, s, c in asked) >= 3, [colour(p, s) for p, s, _ in asked]
