"""Recipes in PNGs written by ComfyUI and InvokeAI, read into the same ParsedParameters as A1111's text.

ComfyUI writes its graph twice: `prompt` (the API graph: node id -> {"class_type", "inputs"}, an input that is
another node's output written as [node id, output index]) and `workflow` (the editor's layout). The API graph is
read: its first sampler node (KSampler, KSamplerAdvanced), the text encoders its positive and negative inputs
lead to, the latent size, the checkpoint (ComfyUI's own server.py and nodes.py define these names).
InvokeAI (3.0 and later) writes `invokeai_metadata`, one JSON object with the generation's fields
(invokeai/app/invocations/metadata.py `CoreMetadataInvocation`: positive_prompt, seed, cfg_scale, scheduler...).
Both draw the seed's initial noise on the CPU as the explorer does; every other way their picture is made
differently is listed in `notes`, every field not used in `ignored`.
"""
from __future__ import annotations

import json

from explorer.errors import InputError
from explorer.generation.recipe import SEED_MAX
from explorer.generation.schedulers import from_a1111
from explorer.messages import say
from explorer.outputs.a1111 import ParsedParameters, as_float, as_int

COMFYUI_KEY = "prompt"                   # ComfyUI's API graph
COMFYUI_WORKFLOW_KEY = "workflow"        # ComfyUI's editor graph (not read: the API graph says the same)
INVOKEAI_KEY = "invokeai_metadata"
COMFYUI, INVOKEAI = "ComfyUI", "InvokeAI"
SAMPLER_NODES = ("KSampler", "KSamplerAdvanced")
TEXT_INPUTS = ("text", "text_g", "text_l", "string", "value")   # CLIPTextEncode(SDXL), primitive/string nodes
MAX_LINKS = 16                           # links followed from one input (a graph may loop)
# ComfyUI's sampler and scheduler names (comfy/samplers.py KSAMPLER_NAMES, SCHEDULER_NAMES) -> A1111's names
COMFYUI_SAMPLERS = {"euler": "Euler", "euler_ancestral": "Euler a", "heun": "Heun", "dpm_2": "DPM2",
                    "dpm_2_ancestral": "DPM2 a", "lms": "LMS", "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE",
                    "dpmpp_sde": "DPM++ SDE", "dpmpp_2s_ancestral": "DPM++ 2S a", "dpmpp_3m_sde": "DPM++ 3M SDE",
                    "ddim": "DDIM", "uni_pc": "UniPC", "lcm": "LCM"}
COMFYUI_SCHEDULES = {"normal": "Uniform", "karras": "Karras", "exponential": "Exponential", "simple": "Simple",
                     "sgm_uniform": "SGM Uniform", "ddim_uniform": "DDIM", "beta": "Beta"}
# InvokeAI's scheduler names (invokeai/backend/stable_diffusion/schedulers/schedulers.py SCHEDULER_MAP: diffusers'
# own schedulers, "_k" with Karras sigmas) -> the explorer's
INVOKEAI_SCHEDULERS = {"ddim": "ddim", "lms": "lms", "lms_k": "lms_karras", "pndm": "pndm", "heun": "heun",
                       "heun_k": "heun_karras", "euler": "euler", "euler_k": "euler_karras", "euler_a": "euler_a",
                       "kdpm_2": "dpm2", "kdpm_2_k": "dpm2_karras", "kdpm_2_a": "dpm2_a", "kdpm_2_a_k": "dpm2_a_karras",
                       "dpmpp_2m": "dpm++2m", "dpmpp_2m_k": "dpm++2m_karras", "dpmpp_2m_sde": "dpm++2m_sde",
                       "dpmpp_2m_sde_k": "dpm++2m_sde_karras", "unipc": "unipc", "lcm": "lcm"}
INVOKEAI_MAPPED = ("positive_prompt", "negative_prompt", "seed", "steps", "cfg_scale", "width", "height", "scheduler",
                   "model", "rand_device", "generation_mode")


def _json_object(text, field: str, allowed: str) -> dict:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        raise InputError(field, allowed, str(text)[:80]) from None
    if not isinstance(data, dict):
        raise InputError(field, allowed, type(data).__name__)
    return data


def _whole(field: str, value) -> int:
    """An integer of a JSON value: 20, "20" or 20.0; not 2.5, true or a list."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()) or isinstance(value, (list, dict)):
        raise InputError(field, say("a1111.integer"), value)
    return as_int(field, value if not isinstance(value, float) else int(value))


def _seed(parsed: ParsedParameters, tool: str, value) -> None:
    """The seed; one beyond the explorer's range (ComfyUI's go to 2^64) is taken modulo 2^32 and said so."""
    seed = _whole("seed", value)
    if not 0 <= seed < SEED_MAX:
        parsed.ignore("seed", str(seed))
        parsed.notes.append(say("other.seed", tool=tool, seed=seed, used=seed % SEED_MAX))
        seed %= SEED_MAX
    parsed.seed = seed


def _notes(parsed: ParsedParameters, tool: str) -> None:
    parsed.notes.append(say("other.noise", tool=tool))
    if "(" in parsed.prompt + parsed.negative_prompt:
        parsed.notes.append(say("other.weights", tool=tool))


# ---------------------------------------------------------------------------------------------- ComfyUI
def _node(graph: dict, link) -> dict | None:
    """The node an input links to ([node id, output index]), or None when the input is a plain value."""
    if isinstance(link, list) and len(link) == 2 and str(link[0]) in graph and isinstance(graph[str(link[0])], dict):
        return graph[str(link[0])]
    return None


def _text(graph: dict, link, depth: int = 0) -> str:
    """The prompt an input leads to: a text encoder's text, following links (conditioning nodes, primitives)."""
    if isinstance(link, str):
        return link
    node = _node(graph, link)
    if node is None or depth > MAX_LINKS:
        return ""
    inputs = node.get("inputs") or {}
    for name in TEXT_INPUTS:
        if name in inputs:
            return _text(graph, inputs[name], depth + 1)
    for name in ("conditioning", "conditioning_to", "conditioning_1"):     # ConditioningCombine/SetArea ...
        if name in inputs:
            return _text(graph, inputs[name], depth + 1)
    return ""


def _upstream(graph: dict, link, wanted: tuple[str, ...], depth: int = 0) -> dict | None:
    """The first node of a wanted class a link leads to, through any node's first linked input."""
    node = _node(graph, link)
    if node is None or depth > MAX_LINKS:
        return None
    if node.get("class_type") in wanted:
        return node
    for value in (node.get("inputs") or {}).values():
        found = _upstream(graph, value, wanted, depth + 1) if isinstance(value, list) else None
        if found is not None:
            return found
    return None


def read_comfyui(text: str) -> ParsedParameters:
    """ComfyUI's `prompt` chunk (its API graph) -> ParsedParameters."""
    graph = _json_object(text, COMFYUI_KEY, say("other.comfyui"))
    samplers = sorted((key for key, node in graph.items()
                       if isinstance(node, dict) and node.get("class_type") in SAMPLER_NODES), key=str)
    if not samplers:
        raise InputError(COMFYUI_KEY, say("other.comfyui"), say("other.no_sampler"))
    parsed = ParsedParameters()
    node = graph[samplers[0]]
    inputs = node.get("inputs") or {}
    if len(samplers) > 1:
        parsed.notes.append(say("other.nodes", tool=COMFYUI, n=len(samplers), node=samplers[0]))
    parsed.prompt = _text(graph, inputs.get("positive"))
    parsed.negative_prompt = _text(graph, inputs.get("negative"))
    seed = inputs.get("seed", inputs.get("noise_seed"))
    if seed is not None and not isinstance(seed, list):
        _seed(parsed, COMFYUI, seed)
    if "steps" in inputs and not isinstance(inputs["steps"], list):
        parsed.steps = _whole("steps", inputs["steps"])
    if "cfg" in inputs and not isinstance(inputs["cfg"], list):
        parsed.guidance = as_float("cfg", inputs["cfg"])
    latent = _upstream(graph, inputs.get("latent_image"), ("EmptyLatentImage", "EmptySD3LatentImage"))
    if latent is not None:
        sizes = latent.get("inputs") or {}
        parsed.width, parsed.height = _whole("width", sizes.get("width")), _whole("height", sizes.get("height"))
    checkpoint = _upstream(graph, inputs.get("model"), ("CheckpointLoaderSimple", "CheckpointLoader"))
    if checkpoint is not None:
        parsed.model = str((checkpoint.get("inputs") or {}).get("ckpt_name", "")) or None
    sampler, schedule = str(inputs.get("sampler_name", "")), str(inputs.get("scheduler", ""))
    parsed.sampler, parsed.schedule_type = sampler, schedule
    a1111 = COMFYUI_SAMPLERS.get(sampler)
    parsed.scheduler = from_a1111(a1111, COMFYUI_SCHEDULES.get(schedule, schedule)) if a1111 else None
    if a1111 and parsed.scheduler is None:       # a sampler offered, with a schedule diffusers has not for it
        parsed.scheduler = from_a1111(a1111, "Uniform")
        parsed.notes.append(say("a1111.schedule", schedule=repr(schedule), scheduler=parsed.scheduler))
    if parsed.scheduler is None:
        parsed.notes.append(say("other.sampler", tool=COMFYUI, sampler=repr(sampler), schedule=repr(schedule)))
    denoise = inputs.get("denoise", 1.0)
    if not isinstance(denoise, list) and as_float("denoise", denoise) != 1.0:
        parsed.notes.append(say("other.denoise", tool=COMFYUI, value=denoise))
    for key in sorted(set(inputs) - {"seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "positive",
                                     "negative", "latent_image", "model", "denoise"}):
        parsed.ignore(key, json.dumps(inputs[key]))
    _notes(parsed, COMFYUI)
    return parsed


# ---------------------------------------------------------------------------------------------- InvokeAI
def read_invokeai(text: str) -> ParsedParameters:
    """InvokeAI's `invokeai_metadata` chunk -> ParsedParameters."""
    data = _json_object(text, INVOKEAI_KEY, say("other.invokeai"))
    parsed = ParsedParameters()
    parsed.prompt = str(data.get("positive_prompt") or "")
    parsed.negative_prompt = str(data.get("negative_prompt") or "")
    if data.get("seed") is not None:
        _seed(parsed, INVOKEAI, data["seed"])
    if data.get("steps") is not None:
        parsed.steps = _whole("steps", data["steps"])
    if data.get("cfg_scale") is not None:
        parsed.guidance = as_float("cfg_scale", data["cfg_scale"])
    if data.get("width") is not None and data.get("height") is not None:
        parsed.width, parsed.height = _whole("width", data["width"]), _whole("height", data["height"])
    model = data.get("model")
    parsed.model = (str(model.get("name") or model.get("model_name") or "") if isinstance(model, dict)
                    else str(model or "")) or None
    scheduler = str(data.get("scheduler", ""))
    parsed.sampler = scheduler
    parsed.scheduler = INVOKEAI_SCHEDULERS.get(scheduler)
    if scheduler and parsed.scheduler is None:
        parsed.notes.append(say("other.sampler", tool=INVOKEAI, sampler=repr(scheduler), schedule=repr("")))
    if data.get("rand_device", "cpu") != "cpu":
        parsed.notes.append(say("a1111.gpu_seed"))
    if data.get("generation_mode", "txt2img") not in ("txt2img", "sdxl_txt2img"):
        parsed.notes.append(say("other.denoise", tool=INVOKEAI, value=data["generation_mode"]))
    for key in sorted(set(data) - set(INVOKEAI_MAPPED)):
        parsed.ignore(key, json.dumps(data[key], ensure_ascii=False)[:200])
    _notes(parsed, INVOKEAI)
    return parsed
