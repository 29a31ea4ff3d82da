"""Backends: where the denoiser and the VAE decoder run. `torch` (diffusers' own modules, the default) or `openvino`
(the same modules converted once to OpenVINO, cached on disk, for a CPU without a GPU).

The fast path keeps every view: it replaces only the *call* of the UNet and of the VAE decoder (an instance
`forward` / `decode` on the model's own modules, as generation.invariant replaces nn.Linear.forward), so the pipeline
loop, the scheduler, callbacks (step previews from each step's latents), conditioning passed as embeddings,
batches, Composable Diffusion and Stop between steps are diffusers' and the explorer's own code, untouched. What
it cannot give (the attention probabilities inside the UNet) runs on torch: `on_torch(model)` puts the modules'
own calls back while inside. A call the converted graph does not take (a ControlNet's residuals, an attention
mask, LoRA scales, tiled decoding) goes to torch as well.

Conversion: `openvino.convert_model(module, example_input=...)` traces the module (no hub, no export step),
`openvino.save_model(..., compress_to_fp16=False)` writes it (float32: the pixels stay within float32 rounding of
torch's). It is kept under `<cache_dir>/backends/openvino/<model>-<part>/` with `key.json`: the model's name, the
part's config, a fingerprint of its weights, the graph's inputs and the library versions. A folder whose key
differs is rebuilt. Static shapes: each (batch, height, width) the model is asked for is compiled once (the
compiled blob is cached by OpenVINO in `CACHE_DIR`) and kept in a small LRU (Intel's advice for CPUs: static
shapes let the plugin pick its kernels; measured in bench/bench_backend.py).

The tiny decoder (models.tiny_decoder, `--decoder tiny`) is converted on first use too (FastPath.tiny_decode), cached
beside the parts by the fingerprint of its weights. DeepCache (generation.deepcache) needs the UNet's own blocks: its
runs go to torch like attention capture.

Why OpenVINO and not torch.compile (inductor), measured here (README, "A class on a laptop"; `python
bench/bench_backend.py --compile-only`): one SD 1.5 UNet call 0.70x eager on OpenVINO, 0.87x with inductor, whose
compile took 2.5x OpenVINO's conversion.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch

from explorer.cache import LRUCache, write_atomic
from explorer.errors import InputError
from explorer.messages import say

log = logging.getLogger(__name__)

BACKENDS = ("torch", "openvino")
OPENVINO_PIN = "openvino==2026.4.1"        # requirements.txt
GRAPH_FORMAT = 1                           # bump when the traced graphs' inputs change: every cache is rebuilt
COMPILED_SHAPES = 4                        # static-shape compilations kept per part
FINGERPRINT_SAMPLES = 64                   # values read from each weight tensor for the cache key
STOP_POLL_MS = 50                          # how often a running graph asks whether its run was stopped


def check_backend(name: str) -> str:
    """A backend name of BACKENDS, else InputError naming the field."""
    if name not in BACKENDS:
        raise InputError("backend", say("checks.one_of", choices=", ".join(BACKENDS)), name)
    return name


def _openvino():
    """The openvino module, or an InputError giving the pip command."""
    try:
        import openvino
    except ImportError:
        raise InputError("backend", say("backends.install", pip=f"pip install {OPENVINO_PIN}"), "openvino") from None
    return openvino


# ---------------------------------------------------------------- the graphs that are converted
class UNetGraph(torch.nn.Module):
    """The UNet as a function of plain tensors: (sample, timestep (B,), encoder_hidden_states[, text_embeds,
    time_ids]) -> noise prediction. SDXL's added conditions are two more inputs."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet
        self.text_time = getattr(unet.config, "addition_embed_type", None) == "text_time"

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds=None, time_ids=None):
        added = dict(text_embeds=text_embeds, time_ids=time_ids) if self.text_time else None
        return self.unet(sample, timestep, encoder_hidden_states, added_cond_kwargs=added, return_dict=False)[0]


class DecoderGraph(torch.nn.Module):
    """The VAE's decode as a function of the unscaled latent z: z -> image in [-1, 1]."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, z):
        return self.vae.decode(z, return_dict=False)[0]


def convertible(model) -> None:
    """Refuse, naming the field, a model the openvino backend cannot convert (before anything is changed)."""
    unet = getattr(model.pipe, "unet", None)
    added = getattr(getattr(unet, "config", None), "addition_embed_type", None)
    if unet is None or model.adapter.flow or added not in (None, "text_time") \
            or getattr(unet.config, "class_embed_type", None) is not None:
        raise InputError("backend", say("backends.cannot_convert", model=model.name, family=model.family), "openvino")
    if model.device.type != "cpu" or model.dtype != torch.float32:
        raise InputError("backend", say("backends.cpu_only", device=str(model.device), dtype=str(model.dtype)[6:]),
                         "openvino")


def fingerprint(module: torch.nn.Module) -> str:
    """A hash of a module's config and weights (each tensor's name, shape, dtype and FINGERPRINT_SAMPLES values spread
    over it): a retrained or edited model gets a new key without reading gigabytes."""
    digest = hashlib.sha256(json.dumps(dict(getattr(module, "config", {})), sort_keys=True, default=str).encode())
    for name, tensor in module.state_dict().items():
        flat = tensor.detach().reshape(-1)
        stride = max(1, flat.numel() // FINGERPRINT_SAMPLES)
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(flat[::stride][:FINGERPRINT_SAMPLES].float().cpu().numpy().tobytes())
    return digest.hexdigest()


def cache_key(model_name: str, part: str, module: torch.nn.Module, inputs: list[str]) -> dict:
    """What a converted part depends on; a cached part with another key is stale."""
    import diffusers
    openvino = _openvino()
    return {"model": model_name, "part": part, "weights": fingerprint(module), "inputs": inputs,
            "graph_format": GRAPH_FORMAT, "openvino": openvino.__version__, "torch": torch.__version__,
            "diffusers": diffusers.__version__, "dtype": "float32"}


def _slug(text: str) -> str:
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(text).name or text)[:60]
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


@dataclass
class Converted:
    """One converted part on disk, compiled per static input shape on first use."""

    xml: Path
    compile_dir: Path
    compiled: LRUCache = field(default_factory=lambda: LRUCache(COMPILED_SHAPES))
    built: bool = False                    # converted in this process (False: read from the cache)
    key: dict | None = None                # what it was converted from (set where a caller must compare)

    def run(self, arrays: list, check: Callable[[], None] | None = None):
        """Infer on numpy arrays with the graph reshaped to their static shapes; returns the first output.
        `check()` is called while the graph runs; what it raises (generation.stopping.Stopped) cancels the run."""
        shapes = tuple(tuple(a.shape) for a in arrays)
        request = self.compiled.get(shapes, lambda: self._compile(shapes).create_infer_request())
        if check is not None:
            check()                                         # stopped before this call: it does not start
        request.start_async(arrays)
        while not request.wait_for(STOP_POLL_MS):          # a Stop is honoured within the step (InferRequest.cancel)
            if check is not None:
                try:
                    check()
                except BaseException:
                    request.cancel()
                    raise
        return request.get_output_tensor(0).data.copy()

    def _compile(self, shapes):
        openvino = _openvino()
        core = openvino.Core()
        graph = core.read_model(self.xml)
        graph.reshape({graph.inputs[i]: openvino.PartialShape(list(s)) for i, s in enumerate(shapes)})
        started = time.perf_counter()
        compiled = core.compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                                                     "CACHE_DIR": str(self.compile_dir)})
        log.info("openvino: %s compiled for %s in %.1f s", self.xml.parent.name, shapes, time.perf_counter() - started)
        return compiled


def convert(module: torch.nn.Module, example: tuple, key: dict, folder: Path, progress=None) -> Converted:
    """The part converted to OpenVINO under `folder` (reused when its key.json matches `key`, else rebuilt)."""
    openvino = _openvino()
    xml, key_file = folder / "model.xml", folder / "key.json"
    compile_dir = folder.parent / "compiled"
    if xml.is_file() and key_file.is_file() and json.loads(key_file.read_text()) == key:
        return Converted(xml, compile_dir)
    if folder.exists():
        log.info("openvino: %s is stale (its key differs): rebuilt", folder.name)
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    with torch.no_grad():
        graph = openvino.convert_model(module, example_input=example)
    openvino.save_model(graph, xml, compress_to_fp16=False)
    write_atomic(key_file, json.dumps(key, indent=1).encode())   # last: a half-written folder is never taken as done
    log.info("openvino: %s converted in %.1f s", folder.name, time.perf_counter() - started)
    return Converted(xml, compile_dir, built=True)


# ---------------------------------------------------------------- the fast path on a model
@dataclass
class FastPath:
    """A model's UNet and VAE decoder calls routed to converted graphs (installed on the modules themselves)."""

    name: str
    unet: Converted
    decoder: Converted
    text_time: bool
    check: Callable[[], None] | None = None       # raises to stop the run, set while inside `stoppable`
    installed: bool = False
    folder: Path | None = None                    # where the parts are cached (the tiny decoder joins them there)
    tiny: Converted | None = None                 # the tiny decoder (models.tiny_decoder), converted on first use

    def tiny_decode(self, module: torch.nn.Module, latents: torch.Tensor) -> torch.Tensor:
        """Latents -> pixels by the tiny decoder `module` (AutoencoderTiny), converted once (cached by its key)."""
        key = cache_key("tiny-decoder", "tiny-decoder", module, ["z"])     # the weights' fingerprint tells them apart
        if self.tiny is None or self.tiny.key != key:
            z = torch.randn(1, module.config.latent_channels, 8, 8)
            folder = self.folder / f"tiny-decoder-{key['weights'][:16]}"
            self.tiny = convert(DecoderGraph(module).eval(), (z,), key, folder)
            self.tiny.key = key
        out = self.tiny.run([latents.detach().float().cpu().contiguous().numpy()], self.check)
        return torch.from_numpy(out).to(latents.dtype)

    def unet_forward(self, original):
        fast = self

        def forward(sample, timestep, encoder_hidden_states, class_labels=None, timestep_cond=None,
                    attention_mask=None, cross_attention_kwargs=None, added_cond_kwargs=None,
                    down_block_additional_residuals=None, mid_block_additional_residual=None,
                    down_intrablock_additional_residuals=None, encoder_attention_mask=None, return_dict=True):
            extras = (class_labels, timestep_cond, attention_mask, cross_attention_kwargs,
                      down_block_additional_residuals, mid_block_additional_residual,
                      down_intrablock_additional_residuals, encoder_attention_mask)
            if any(e is not None for e in extras):                 # what the graph does not take: torch's own
                return original(sample, timestep, encoder_hidden_states, class_labels, timestep_cond, attention_mask,
                                cross_attention_kwargs, added_cond_kwargs, down_block_additional_residuals,
                                mid_block_additional_residual, down_intrablock_additional_residuals,
                                encoder_attention_mask, return_dict)
            batch = sample.shape[0]
            steps = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1).expand(batch)   # (B,)
            arrays = [sample.float(), steps, encoder_hidden_states.float()]
            if fast.text_time:
                arrays += [added_cond_kwargs["text_embeds"].float(), added_cond_kwargs["time_ids"].float()]
            out = fast.unet.run([a.detach().cpu().contiguous().numpy() for a in arrays], fast.check)
            out = torch.from_numpy(out).to(sample.dtype)
            if not return_dict:
                return (out,)
            from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput
            return UNet2DConditionOutput(sample=out)
        return forward

    def vae_decode(self, vae, original):
        fast = self

        def decode(z, return_dict=True, generator=None):
            if getattr(vae, "use_tiling", False) or getattr(vae, "use_slicing", False):
                return original(z, return_dict=return_dict, generator=generator)
            out = torch.from_numpy(fast.decoder.run([z.detach().float().cpu().contiguous().numpy()], fast.check))
            if not return_dict:
                return (out.to(z.dtype),)
            from diffusers.models.autoencoders.vae import DecoderOutput
            return DecoderOutput(sample=out.to(z.dtype))
        return decode

    def install(self, pipe) -> None:
        """Route pipe.unet's and pipe.vae.decode's calls here (instance attributes: the class's own stay)."""
        if self.installed:
            return
        pipe.unet.forward = self.unet_forward(type(pipe.unet).forward.__get__(pipe.unet))
        pipe.vae.decode = self.vae_decode(pipe.vae, type(pipe.vae).decode.__get__(pipe.vae))
        self.installed = True

    def uninstall(self, pipe) -> None:
        if not self.installed:
            return
        del pipe.unet.forward
        del pipe.vae.decode
        self.installed = False


def use_backend(model, name: str, cache_dir: Path, progress: bool = True) -> None:
    """Run `model` on backend `name`: convert (or read from the cache) its UNet and VAE decoder, then install.
    Refusals name the field `backend` and leave the model on torch."""
    check_backend(name)
    if name == "torch":
        if model.fast_path is not None:
            model.fast_path.uninstall(model.pipe)
        model.fast_path = None
        model.backend = "torch"
        return
    _openvino()
    convertible(model)
    from tqdm.auto import tqdm

    pipe, folder = model.pipe, Path(cache_dir) / "backends" / "openvino"
    unet, vae = pipe.unet, pipe.vae
    text_time = getattr(unet.config, "addition_embed_type", None) == "text_time"
    # 1. example inputs at a small size: the traced graph has dynamic shapes, compiled later per static shape
    side = 8                                                                     # latent cells per side
    sample = torch.randn(2, unet.config.in_channels, side, side)
    embeds = torch.randn(2, 77, unet.config.cross_attention_dim)
    unet_example = (sample, torch.tensor([500.0, 500.0]), embeds)
    inputs = ["sample", "timestep", "encoder_hidden_states"]
    if text_time:
        width = unet.add_embedding.linear_1.in_features - 6 * unet.config.addition_time_embed_dim
        size = side * 8.0
        unet_example += (torch.randn(2, width), torch.tensor([[size, size, 0, 0, size, size]] * 2))   # (B, 6)
        inputs += ["text_embeds", "time_ids"]
    z = torch.randn(1, vae.config.latent_channels, side, side)
    # 2. convert or reuse, with a progress bar over the parts
    parts = [("unet", UNetGraph(unet).eval(), unet, unet_example, inputs),
             ("vae-decoder", DecoderGraph(vae).eval(), vae, (z,), ["z"])]
    done = {}
    try:
        for part, graph, module, example, names in tqdm(parts, desc=say("backends.converting", model=model.name),
                                                        disable=not progress, leave=False):
            key = cache_key(model.name, part, module, names)
            done[part] = convert(graph, example, key, folder / f"{_slug(model.name)}-{part}")
    except (RuntimeError, ValueError, TypeError, OSError) as error:       # the converter's own refusals
        raise InputError("backend", say("backends.cannot_convert", model=model.name, family=model.family),
                         "openvino", hint=str(error).splitlines()[0][:200] if str(error) else None) from error
    # 3. install: from now on every call of the UNet and the decoder runs the converted graphs
    if model.fast_path is not None:
        model.fast_path.uninstall(pipe)
    model.fast_path = FastPath(name, done["unet"], done["vae-decoder"], text_time, folder=folder)
    model.fast_path.install(pipe)
    model.backend = name


@contextmanager
def on_torch(model, when: bool = True) -> Iterator[None]:
    """While inside (and `when`), the model's UNet and decoder run on torch (attention capture needs its modules);
    hold the model's lock."""
    fast = model.fast_path if when else None
    if fast is None or not fast.installed:
        yield
        return
    fast.uninstall(model.pipe)
    try:
        yield
    finally:
        fast.install(model.pipe)


@contextmanager
def stoppable(model, check: Callable[[], None] | None) -> Iterator[None]:
    """While inside, a converted graph's run calls `check()` every STOP_POLL_MS and is cancelled when it raises
    (generation.stopping.Stopped); hold the model's lock."""
    fast = model.fast_path
    if fast is None or check is None:
        yield
        return
    fast.check = check
    try:
        yield
    finally:
        fast.check = None


def backend_used(model, attention: bool = False) -> str:
    """The backend a generation on this model runs on (attention capture: torch)."""
    return "torch" if attention or model.fast_path is None else model.backend
