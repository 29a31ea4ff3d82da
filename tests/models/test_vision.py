"""The optional CLIP vision model: the tiny random one exercises the whole path with real classes."""
from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.cache import LRUCache
from explorer.errors import InputError
from explorer.models.families import family_adapter
from explorer.models.loaded import VISIONS_CACHED
from explorer.models.presets import MINIWORLD_DIR
from explorer.models.vision import load_vision, softmax, vision_status


def _model(family: str, folder=None, adapter=None) -> SimpleNamespace:
    """A LoadedModel-like object: what load_vision reads (adapter, family, folder, device, dtype) and where it keeps
    the vision model (visions, vision_lock)."""
    return SimpleNamespace(adapter=adapter or family_adapter(family), family=family, folder=folder,
                           device=torch.device("cpu"), dtype=torch.float32, visions=LRUCache(VISIONS_CACHED),
                           vision_lock=threading.Lock())


@pytest.fixture(scope="module")
def vision(tiny_model):
    return load_vision(tiny_model)


def _images(n=3, w=70, h=50):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for _ in range(n)]


def test_tiny_loads_once_per_family(tiny_model, vision):
    assert tiny_model.family == "tiny"
    assert vision is not None and vision.name == "tiny-random-clip"
    assert load_vision(tiny_model) is vision                               # memoised
    other = load_vision(_model("tiny"))                # another model's: its own (nothing shared between two apps)
    assert other is not vision and other.name == vision.name and load_vision(tiny_model) is vision
    assert "tiny" in vision.about and vision.image_size == 32


def test_embeddings_are_unit_norm_and_similarity_is_their_cosine(vision):
    images, texts = _images(), ["a man", "a woman", "a photo of a lighthouse at dawn"]
    img, txt = vision.image_embeds(images), vision.text_embeds(texts)
    assert img.shape == (3, 32) and txt.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(vision.similarity(images, texts), img @ txt.T, atol=1e-5)
    # batching the texts does not change an embedding (dynamic padding + causal mask)
    np.testing.assert_allclose(vision.text_embeds(["a man"])[0], txt[0], atol=1e-5)


def test_zero_shot_is_a_softmax_with_the_logit_scale(vision):
    images, labels = _images(2), ["a man", "a woman"]
    probs = vision.zero_shot(images, labels)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(probs, softmax(vision.logit_scale * vision.similarity(images, labels), 1), atol=1e-6)


def test_preprocessing_matches_transformers_clip_image_processor(vision):
    from transformers import CLIPImageProcessor

    images = _images(2, 90, 40)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    expected = processor(images=images, return_tensors="pt")["pixel_values"]
    np.testing.assert_allclose(vision.pixel_values(images).numpy(), expected.numpy(), atol=1e-5)


def test_bad_inputs_name_the_field(vision):
    with pytest.raises(InputError, match="labels"):
        vision.zero_shot(_images(1), ["only one"])
    with pytest.raises(InputError, match="images"):
        vision.image_embeds([])
    with pytest.raises(InputError, match="texts"):
        vision.text_embeds(["", "x"])


def test_unavailable_offline_returns_none_with_a_reason():
    model = _model("sd1")
    assert load_vision(model) is None
    assert "openai/clip-vit-large-patch14" in vision_status(model)
    unknown = _model("unknown", adapter=dataclasses.replace(family_adapter("tiny"), name="unknown", vision=None))
    assert load_vision(unknown) is None


@pytest.mark.skipif(not (MINIWORLD_DIR / "clip" / "config.json").is_file(), reason="miniworld CLIP not trained yet")
def test_miniworld_clip_loads_from_assets():
    vision = load_vision(_model("miniworld", folder=MINIWORLD_DIR))
    assert vision is not None and vision.image_embeds(_images(1)).shape[0] == 1


def test_only_a_vision_model_already_on_disk_is_used_by_default():
    from explorer.models.vision import vision_on_disk

    assert vision_on_disk(_model("miniworld")) is \
        (Path(__file__).resolve().parents[2] / "assets" / "miniworld" / "clip").is_dir()
    assert not vision_on_disk(_model("sd1")) and not vision_on_disk(_model("tiny"))   # a hub download / no folder
