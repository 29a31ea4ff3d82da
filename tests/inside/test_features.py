"""The feature microscope on miniworld, measured by the suite against the pixel oracle: the shipped labels hold on
pictures the labelling never saw (and an SAE with shuffled features fails that check), painting the yellow feature
turns the red square yellow inside its box and leaves the rest, the view, the CLI verbs and their refusals."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from explorer.cli import features as features_cli
from explorer.cli import main
from explorer.generation.generate import generate
from explorer.generation.recipe import recipe_defaults
from explorer.inside.features import MOST_ACTIVE, confirmed_share, feature_maps, label_features, make_probe_set, \
    per_picture, pure_share
from explorer.inside.microscope import Microscope, feature_view
from explorer.inside.paint import colour_in_box, object_box, outside_changed
from explorer.inside.sae import TopKSAE
from explorer.outputs.png import open_image

BLOCKS = ["mid_block.attentions.0", "up_blocks.1.attentions.0"]
PROBES, SEED = 96, 11          # new pictures (the labels were read from world seed 2, training used seed 1)
CONFIRMED = 0.45               # share of the stored labels of the 64 most active features a new set must confirm
CONFIRM_TOP = 8                # top pictures per feature on the small set (measured: mid block 89% confirmed, shuffled
                               # 11%; up block 53%, shuffled 22%)
PAINT_BLOCK, PAINT_PROMPT = "up_blocks.1.attentions.0", "a large red square in the middle"


@pytest.fixture(scope="module")
def scope(miniworld):
    return Microscope.for_model(miniworld)


@pytest.fixture(scope="module")
def probes(miniworld):
    """One UNet pass over PROBES new pictures, both blocks recorded."""
    return make_probe_set(miniworld, PROBES, SEED, BLOCKS)


def stored_labels(scope: Microscope, block: str) -> dict[int, str]:
    """The labels shipped for the block's MOST_ACTIVE most active features."""
    return {row["id"]: row["label"] for row in scope.features(block) if row["rank"] < MOST_ACTIVE}


def check_labels(sae: TopKSAE, stored: dict[int, str], probes, block: str) -> float:
    """The check the suite makes: the stored labels hold on new pictures (the oracle reads them)."""
    activations = per_picture(feature_maps(sae, probes.updates[block]))
    share = confirmed_share(activations, probes.readings, stored, top=CONFIRM_TOP)
    assert share >= CONFIRMED, f"{block}: only {share:.0%} of the stored labels hold on new pictures"
    return share


def shuffled(sae: TopKSAE, seed: int = 0) -> TopKSAE:
    """The same SAE with its features renumbered (encoder rows, biases, decoder columns, stats permuted together)."""
    order = torch.randperm(sae.n_dirs, generator=torch.Generator().manual_seed(seed))
    other = TopKSAE(sae.d_model, sae.n_dirs, sae.k, sae.auxk)
    state = sae.state_dict()
    state["encoder.weight"], state["decoder.weight"] = state["encoder.weight"][order], state["decoder.weight"][:, order]
    for name in ("latent_bias", "mean", "std", "stats_last_nonzero"):
        state[name] = state[name][order]
    other.load_state_dict(state)
    return other.eval()


@pytest.mark.parametrize("block", BLOCKS)
def test_the_shipped_labels_hold_on_new_pictures(scope, probes, block):
    check_labels(scope.saes.get(block), stored_labels(scope, block), probes, block)


@pytest.mark.parametrize("block", BLOCKS)
def test_the_label_check_fails_for_an_sae_with_shuffled_features(scope, probes, block):
    sae = scope.saes.get(block)
    with pytest.raises(AssertionError, match="stored labels hold"):
        check_labels(shuffled(sae), stored_labels(scope, block), probes, block)
    reordered = per_picture(feature_maps(shuffled(sae), probes.updates[block]))       # the same features, renamed:
    original = per_picture(feature_maps(sae, probes.updates[block]))                  # only the labels tell them apart
    assert np.allclose(np.sort(reordered, axis=1), np.sort(original, axis=1), atol=1e-5)


def test_purity_measured_on_new_pictures_and_the_shipped_figure(scope, probes):
    """The issue's measure on the suite's own small set, by the code that wrote labels.json (whose figure on 1,024
    pictures is checked as shipped: >= 80% of the 64 most active features of every shipped block have purity >= 0.8)."""
    block = "mid_block.attentions.0"
    labels = label_features(per_picture(feature_maps(scope.saes.get(block), probes.updates[block])), probes.readings)
    assert pure_share(labels) >= 0.6
    assert all(scope.record["blocks"][b]["pure_share"] >= 0.8 for b in scope.blocks)     # every shipped block
    random = TopKSAE(128, 512, k=8)
    noise = label_features(per_picture(feature_maps(random, probes.updates[block])), probes.readings)
    assert pure_share(noise) < pure_share(labels)


def test_painting_the_yellow_feature_turns_the_red_square_yellow_inside_its_box_only(miniworld, scope, tmp_path,
                                                                                      monkeypatch):
    feature = scope.best(PAINT_BLOCK, "colour:yellow")
    recipe = recipe_defaults(miniworld, PAINT_PROMPT, seed=1)
    plain = np.asarray(generate(miniworld, recipe, watch=False).image.convert("RGB"))
    box = object_box(plain, cell=8)
    assert colour_in_box(plain, box) == "red"
    monkeypatch.setattr(features_cli, "load", lambda args: miniworld)
    out = tmp_path / "painted.png"
    assert main(["paint", "--model", "miniworld", "--prompt", PAINT_PROMPT, "--block", PAINT_BLOCK, "--feature",
                 str(feature), "--box", ",".join(map(str, box)), "--seed", "1", "--out", str(out)]) == 0
    painted = np.asarray(open_image(out, "out").convert("RGB"))
    assert colour_in_box(painted, box) == "yellow"
    assert outside_changed(plain, painted, box) <= 0.05


def test_the_feature_view_shows_top_pictures_and_every_step(miniworld, scope):
    block = "mid_block.attentions.0"
    feature = scope.features(block)[0]["id"]
    view = feature_view(miniworld, scope, block, feature, shown=2, seed=0)
    assert len(view.pictures) == 2 and view.pictures[0].size == (192, 192)
    assert len(view.peak) == miniworld.preset.steps and max(view.peak) >= 0
    assert view.label == scope.entry(block, feature)["label"]


def test_features_json_lists_block_id_label_and_purity(miniworld, capsys, monkeypatch):
    monkeypatch.setattr(features_cli, "load", lambda args: miniworld)
    assert main(["features", "--model", "miniworld", "--block", PAINT_BLOCK, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {"block", "id", "label", "purity"} <= set(rows[0]) and rows[0]["block"] == PAINT_BLOCK
    assert all(r["label"].split(":")[0] in ("colour", "shape", "size", "position") for r in rows)


@pytest.mark.parametrize("argv, field", [
    (["features", "--block", "down_blocks.7.attentions.0"], "block"),
    (["paint", "--prompt", "a red circle", "--block", "nowhere", "--feature", "1", "--box", "0,0,8,8"], "block"),
    (["paint", "--prompt", "a red circle", "--block", PAINT_BLOCK, "--feature", "9999", "--box", "0,0,8,8"], "feature"),
    (["paint", "--prompt", "a red circle", "--block", PAINT_BLOCK, "--feature", "1", "--box", "0,0,80,8"], "box"),
    (["paint", "--prompt", "a red circle", "--block", PAINT_BLOCK, "--feature", "1", "--box", "0,0,8"], "box"),
    (["paint", "--prompt", "a red circle", "--block", PAINT_BLOCK, "--feature", "1", "--box", "0,0,8,8",
      "--steps-from", "30"], "steps_from"),
])
def test_bad_input_exits_2_naming_the_field(miniworld, capsys, monkeypatch, tmp_path, argv, field):
    monkeypatch.setattr(features_cli, "load", lambda args: miniworld)
    extra = ["--out", str(tmp_path / "x.png"), "--seed", "0"] if argv[0] == "paint" else []
    assert main([*argv, "--model", "miniworld", *extra]) == 2
    assert capsys.readouterr().err.startswith(f"error: {field}:")
    assert not (tmp_path / "x.png").exists()
