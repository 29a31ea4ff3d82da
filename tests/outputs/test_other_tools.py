"""PNGs of ComfyUI and InvokeAI load, with what the explorer does not reproduce listed; A1111's first-pass size.

The fixtures are made here as each tool writes its chunks: ComfyUI's SaveImage node adds `prompt` (the API graph,
json.dumps) and `workflow`; the graph below is ComfyUI's default one (script_examples/basic_api_example.py).
InvokeAI adds `invokeai_metadata` (its CoreMetadata fields) beside `invokeai_graph`/`invokeai_workflow`.
"""
from __future__ import annotations

import json

import pytest
from PIL import Image, PngImagePlugin

from explorer.errors import InputError
from explorer.generation.recipe import validate
from explorer.outputs.a1111 import parse_parameters
from explorer.outputs.png import read_png

COMFYUI_DEFAULT = {
    "3": {"class_type": "KSampler", "inputs": {"cfg": 8, "denoise": 1, "latent_image": ["5", 0], "model": ["4", 0],
                                               "negative": ["7", 0], "positive": ["6", 0], "sampler_name": "euler",
                                               "scheduler": "normal", "seed": 8566257, "steps": 20}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"batch_size": 1, "height": 512, "width": 512}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "masterpiece best quality girl"}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 1], "text": "bad hands"}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}
# an SDXL graph: KSamplerAdvanced, its positive text from a primitive node, DPM++ 2M with Karras, a 64-bit seed
COMFYUI_SDXL = {
    "10": {"class_type": "KSamplerAdvanced", "inputs": {
        "add_noise": "enable", "noise_seed": 2 ** 40 + 5, "steps": 25, "cfg": 6.5, "sampler_name": "dpmpp_2m",
        "scheduler": "karras", "positive": ["12", 0], "negative": ["13", 0], "latent_image": ["14", 0],
        "model": ["11", 0], "start_at_step": 0, "end_at_step": 10000, "return_with_leftover_noise": "disable"}},
    "11": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
    "12": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": ["15", 0], "text_l": ["15", 0], "clip": ["11", 1],
                                                          "width": 1024, "height": 1024}},
    "13": {"class_type": "CLIPTextEncode", "inputs": {"text": "(blurry:1.2)", "clip": ["11", 1]}},
    "14": {"class_type": "EmptyLatentImage", "inputs": {"width": 832, "height": 1216, "batch_size": 1}},
    "15": {"class_type": "PrimitiveNode", "inputs": {"value": "a lighthouse at dawn"}},
}
INVOKEAI = {"generation_mode": "txt2img", "positive_prompt": "a cat in a hat", "negative_prompt": "blurry",
            "width": 512, "height": 768, "seed": 3004587, "rand_device": "cpu", "cfg_scale": 7.5,
            "cfg_rescale_multiplier": 0, "steps": 30, "scheduler": "dpmpp_2m_k", "clip_skip": 0,
            "model": {"key": "f0e9", "hash": "blake3:ab12", "name": "stable-diffusion-v1-5", "base": "sd-1",
                      "type": "main"}, "loras": [], "app_version": "4.2.4"}


def png_with(tmp_path, name: str, chunks: dict) -> str:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value if isinstance(value, str) else json.dumps(value))
    path = tmp_path / name
    Image.new("RGB", (64, 64), "grey").save(path, pnginfo=info)
    return path


def test_comfyuis_default_graph_loads(tmp_path):
    path = png_with(tmp_path, "comfy.png", {"prompt": COMFYUI_DEFAULT, "workflow": {"nodes": [], "links": []}})
    recipe, listed = read_png(path)
    assert (recipe.prompt, recipe.negative_prompt) == ("masterpiece best quality girl", "bad hands")
    assert (recipe.seed, recipe.steps, recipe.guidance, recipe.width, recipe.height) == (8566257, 20, 8.0, 512, 512)
    assert recipe.scheduler == "euler" and recipe.model == "v1-5-pruned-emaonly.safetensors"
    assert any("ComfyUI" in line and "noise" in line for line in listed)          # what differs is said
    validate(recipe.with_(model="tiny-random"))


def test_comfyui_sdxl_graph_with_links_and_a_64_bit_seed(tmp_path):
    recipe, listed = read_png(png_with(tmp_path, "xl.png", {"prompt": COMFYUI_SDXL}))
    assert (recipe.prompt, recipe.negative_prompt) == ("a lighthouse at dawn", "(blurry:1.2)")
    assert (recipe.width, recipe.height, recipe.steps, recipe.guidance) == (832, 1216, 25, 6.5)
    assert recipe.scheduler == "dpm++2m_karras" and recipe.seed == (2 ** 40 + 5) % 2 ** 32
    said = " ".join(listed)
    assert str(2 ** 40 + 5) in said and "weights" in said                          # the seed and (word:1.2) noted
    assert any(line.startswith("ignored: start_at_step") for line in listed)


def test_invokeai_metadata_loads(tmp_path):
    recipe, listed = read_png(png_with(tmp_path, "invoke.png", {"invokeai_metadata": INVOKEAI,
                                                                  "invokeai_graph": {"nodes": {}}}))
    assert (recipe.prompt, recipe.negative_prompt, recipe.seed) == ("a cat in a hat", "blurry", 3004587)
    assert (recipe.width, recipe.height, recipe.steps, recipe.guidance) == (512, 768, 30, 7.5)
    assert recipe.scheduler == "dpm++2m_karras" and recipe.model == "stable-diffusion-v1-5"
    assert any(line.startswith("ignored: clip_skip") for line in listed)
    assert any(line.startswith("ignored: app_version") for line in listed)


@pytest.mark.parametrize("chunks, field", [
    ({"prompt": "{not json"}, "prompt"),
    ({"prompt": {"1": {"class_type": "SaveImage", "inputs": {}}}}, "prompt"),          # no sampler node
    ({"prompt": ["a", "list"]}, "prompt"),
    ({"invokeai_metadata": {"seed": "many"}}, "seed"),
    ({"invokeai_metadata": {"steps": 2.5}}, "steps"),
])
def test_bad_graphs_name_the_field(tmp_path, chunks, field):
    with pytest.raises(InputError) as caught:
        read_png(png_with(tmp_path, "bad.png", chunks))
    assert caught.value.field == field


@pytest.mark.parametrize("size, first_pass, expected", [
    ("1024x1024", "512x512", (512, 512)),
    ("1024x1024", "0x0", (512, 512)),              # A1111's old rule: about 512 x 512 pixels, multiples of 64
    ("1024x768", "0x0", (640, 448)),
])
def test_old_first_pass_size_is_the_size_made(size, first_pass, expected):
    parsed = parse_parameters(f"a cat\nSteps: 20, Sampler: Euler, Seed: 1, Size: {size}, First pass size: "
                              f"{first_pass}, Denoising strength: 0.7, RNG: CPU")
    assert (parsed.width, parsed.height) == expected
    assert "First pass size" not in parsed.ignored_keys and any("Hires" in note for note in parsed.notes)
