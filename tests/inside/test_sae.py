"""The top-k SAE (Surkov et al.'s design and checkpoint format), its checks, and painting through the one generation
path on the tiny SDXL: no miniworld, no training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer.errors import InputError
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.inside.paint import Paint, PaintHook, box_mask, check_paint, paint_generate, parse_box
from explorer.inside.sae import BlockSAEs, TopKSAE, load_sae, project_decoder_grad_, save_sae, unit_norm_decoder_

PUBLISHED = "unet.down_blocks.2.attentions.1_k10_hidden5120_auxk256_bs4096_lr0.0001"   # sdxl-unbox's checkpoints/


def test_topk_keeps_k_features_per_position_and_unit_decoder_columns():
    torch.manual_seed(0)
    sae = TopKSAE(16, 64, k=4)
    codes = sae.encode(torch.randn(10, 3, 16))
    assert codes.shape == (10, 3, 64) and ((codes > 0).sum(-1) <= 4).all() and (codes >= 0).all()
    assert torch.allclose(sae.decoder.weight.norm(dim=0), torch.ones(64), atol=1e-5)


def test_training_steps_lower_the_reconstruction_error():
    torch.manual_seed(0)
    basis = torch.randn(8, 16)
    x = torch.relu(torch.randn(256, 8)) @ basis                 # 8 sparse causes
    sae = TopKSAE(16, 32, k=4, auxk=8, dead_steps_threshold=5)
    optimiser = torch.optim.Adam(sae.parameters(), lr=1e-2)
    first = sae.loss(x)[1].item()
    for _ in range(40):
        loss, mse = sae.loss(x)
        optimiser.zero_grad()
        loss.backward()
        project_decoder_grad_(sae)
        optimiser.step()
        unit_norm_decoder_(sae)
    assert mse.item() < 0.5 * first


def _published_folder(root, d_model: int, n_dirs: int, name: str = PUBLISHED):
    """A checkpoint folder laid out as sdxl-unbox publishes it, with random weights in the given shapes."""
    folder = root / name / "final"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"n_dirs_local": n_dirs, "d_model": d_model, "k": 10,
                                                    "auxk": 256, "dead_steps_threshold": 2441}))
    g = torch.Generator().manual_seed(0)
    state = {"encoder.weight": torch.randn(n_dirs, d_model, generator=g), "pre_bias": torch.zeros(d_model),
             "decoder.weight": torch.randn(d_model, n_dirs, generator=g), "latent_bias": torch.zeros(n_dirs),
             "stats_last_nonzero": torch.zeros(n_dirs, dtype=torch.long)}
    torch.save({"state_dict": state}, folder / "state_dict.pth")
    torch.save(torch.rand(n_dirs, generator=g), folder / "mean.pt")
    torch.save(torch.rand(n_dirs, generator=g), folder / "std.pt")
    return state


def test_a_published_sdxl_turbo_checkpoint_loads_in_its_own_shapes(tmp_path):
    state = _published_folder(tmp_path, 1280, 5120)
    saes = BlockSAEs.from_folder(tmp_path)
    assert list(saes.saes) == ["down_blocks.2.attentions.1"]             # the paper's block, named as the UNet does
    sae = saes.get("down_blocks.2.attentions.1")
    assert (sae.d_model, sae.n_dirs, sae.k, sae.auxk) == (1280, 5120, 10, 256)
    assert torch.equal(sae.encoder.weight, state["encoder.weight"]) and sae.mean.shape == (5120,)
    assert sae.encode(torch.randn(2, 1280)).count_nonzero(dim=-1).max() <= 10


def test_our_checkpoint_round_trips_in_the_papers_format(tmp_path):
    torch.manual_seed(1)
    sae = TopKSAE(8, 32, k=3, auxk=4)
    sae.mean.uniform_()
    save_sae(sae, tmp_path / "mid_block.attentions.0")
    assert sorted(p.name for p in (tmp_path / "mid_block.attentions.0").iterdir()) == \
        ["config.json", "mean.pt", "state_dict.pth", "std.pt"]
    again = load_sae(tmp_path / "mid_block.attentions.0")
    x = torch.randn(5, 8)
    assert torch.equal(again.encode(x), sae.encode(x)) and torch.equal(again.mean, sae.mean)


def test_an_sdxl_turbo_checkpoint_refuses_a_block_of_another_width(tmp_path, tiny_xl):
    _published_folder(tmp_path, 1280, 5120, "unet.up_blocks.0.attentions.0_k10_hidden5120_auxk256_bs4096_lr0.0001")
    saes = BlockSAEs.from_folder(tmp_path)
    recipe = recipe_defaults(tiny_xl, "a cat", seed=0, steps=2)
    with pytest.raises(InputError) as error:
        paint_generate(tiny_xl, recipe, Paint("up_blocks.0.attentions.0", 1, (0, 0, 32, 32)), saes, watch=False)
    assert error.value.field == "block" and "1280" in str(error.value)


def test_painting_on_the_tiny_sdxl_changes_the_box_and_strength_zero_changes_nothing(tmp_path, tiny_xl):
    _published_folder(tmp_path, 64, 256, "unet.up_blocks.0.attentions.0_k10_hidden5120_auxk256_bs4096_lr0.0001")
    saes = BlockSAEs.from_folder(tmp_path)
    recipe = recipe_defaults(tiny_xl, "a cat", seed=3, steps=2)
    plain = np.asarray(generate(tiny_xl, recipe, watch=False).image, np.int16)
    box = (0, 0, 32, 32)
    zero = paint_generate(tiny_xl, recipe, Paint("up_blocks.0.attentions.0", 5, box, 0.0), saes, watch=False)
    assert np.array_equal(np.asarray(zero.image, np.int16), plain)     # the hook itself leaves the image alone
    painted = paint_generate(tiny_xl, recipe, Paint("up_blocks.0.attentions.0", 5, box, 40.0), saes, watch=False)
    moved = np.abs(np.asarray(painted.image, np.int16) - plain).max(-1)
    assert moved.max() > 0


def test_the_box_covers_the_cells_it_overlaps():
    mask = box_mask((0, 0, 32, 16), (64, 64), (8, 8))
    assert mask[:2, :4].eq(1).all() and mask.sum() == 8
    soft = box_mask((8, 8, 40, 40), (64, 64), (8, 8), edge=0.5)             # cells 1..4: the ring 0.5, inside 1
    assert soft[2:4, 2:4].eq(1).all() and soft[1, 1:5].eq(0.5).all() and soft[1:5, 4].eq(0.5).all()
    assert soft.sum() == 4 + 12 * 0.5


def test_a_batched_paint_adds_each_images_box_to_its_own_rows():
    """Rows of a guided batch of two images: [unguided 1, unguided 2, prompt 1, prompt 2]; each its own box."""
    sae = TopKSAE(4, 8, k=2)
    sae.mean.fill_(2.0)
    boxes = [(0, 0, 32, 32), (32, 32, 64, 64)]
    hook = PaintHook(sae, Paint("b", 3, boxes[0], 1.5, 0, 25), (64, 64), guided=True, boxes=boxes)
    out = hook(None, (torch.zeros(4, 4, 8, 8),), (torch.zeros(4, 4, 8, 8),))[0]
    vector = sae.direction(3).detach() * 2.0 * 1.5
    for row, box, sign in ((0, 0, -1), (1, 1, -1), (2, 0, 1), (3, 1, 1)):
        expected = sign * vector[:, None, None] * box_mask(boxes[box], (64, 64), (8, 8))
        assert torch.allclose(out[row], expected)


@pytest.mark.parametrize("change, field", [
    (dict(block="down_blocks.9.attentions.0"), "block"), (dict(feature=64), "feature"), (dict(feature=-1), "feature"),
    (dict(box=(0, 0, 80, 32)), "box"), (dict(box=(20, 0, 10, 32)), "box"), (dict(strength=1e9), "strength"),
    (dict(steps_from=25), "steps_from"), (dict(steps_from=3, steps_to=2), "steps_to"), (dict(steps_to=26), "steps_to"),
])
def test_bad_paint_input_names_its_field(change, field, tiny_model):
    saes = BlockSAEs({"mid_block.attentions.0": TopKSAE(8, 64, k=2)})
    recipe = recipe_defaults(tiny_model, "a cat", seed=0, steps=25, width=64, height=64)
    paint = dict(block="mid_block.attentions.0", feature=3, box=(0, 0, 32, 32), strength=2.0, steps_from=0,
                 steps_to=None)
    with pytest.raises(InputError) as error:
        check_paint(Paint(**{**paint, **change}), saes, recipe)
    assert error.value.field == field


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "", "1,2,3,4,5"])
def test_a_box_that_is_not_four_integers_is_refused(text):
    with pytest.raises(InputError) as error:
        parse_box(text)
    assert error.value.field == "box"


def test_training_reruns_and_resumes_bit_for_bit(tmp_path, monkeypatch):
    """A rerun of the training gives the same weights bit for bit (and the same checkpoint bytes); a run stopped
    after a checkpoint resumes to those weights too; a checkpoint of other rows is not resumed."""
    from explorer.inside import train
    monkeypatch.setattr(train, "BATCH", 64)
    monkeypatch.setattr(train, "CHECKPOINT_EVERY", 3)
    rows = torch.randn(512, 8, generator=torch.Generator().manual_seed(0))
    one, two = (train.train_block(rows, tmp_path / run, "b", 6, seed=0) for run in ("a", "b"))
    first, again = one.state_dict(), two.state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    save_sae(one, tmp_path / "one")
    save_sae(two, tmp_path / "two")
    for name in ("state_dict.pth", "mean.pt", "std.pt", "config.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    (tmp_path / "a" / "b.pt").unlink()             # a finished run's checkpoint (step 6): start the stopped run anew
    calls, loss = [0], train.TopKSAE.loss

    def stopping(self, x):
        calls[0] += 1
        if calls[0] == 5:                           # stopped in the 5th batch: the checkpoint holds step 3
            raise KeyboardInterrupt
        return loss(self, x)

    monkeypatch.setattr(train.TopKSAE, "loss", stopping)
    with pytest.raises(KeyboardInterrupt):
        train.train_block(rows, tmp_path / "a", "b", 6, seed=0)
    assert torch.load(tmp_path / "a" / "b.pt", weights_only=True)["step"] == 3
    monkeypatch.setattr(train.TopKSAE, "loss", loss)
    resumed = train.train_block(rows, tmp_path / "a", "b", 6, seed=0).state_dict()
    assert all(torch.equal(first[k], resumed[k]) for k in first)
    other = train.train_block(rows * 2, tmp_path / "a", "b", 6, seed=0).state_dict()     # other rows: not resumed
    assert not torch.equal(other["encoder.weight"], first["encoder.weight"])
    fresh = train.train_block(rows * 2, tmp_path / "e", "b", 6, seed=0).state_dict()
    assert all(torch.equal(other[k], fresh[k]) for k in other)
