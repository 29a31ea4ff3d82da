"""The tiny decoder for the final image: TAESD / TAESDXL (diffusers' AutoencoderTiny; madebyollin/taesd for SD 1.x/2.x,
madebyollin/taesdxl for SDXL), what fastsdcpu decodes turbo images with on a CPU.

`--decoder tiny` (app and every CLI verb, as `--backend`) decodes each final image with it instead of the model's VAE;
`full` (the default) keeps the VAE. A recipe that says `tiny` is decoded tiny on any server; the recipe records the
decoder that made the image (`"decoder": "tiny"`; a full decode writes no key: earlier recipes stay the same bytes).
TAESD reads the pipeline's latents as they are (its scaling_factor is 1.0) and returns pixels in [-1, 1] like the VAE.
On the openvino backend it is converted too (models.backends.FastPath.tiny_decode), once, cached beside the UNet.

The loaded module is the one the taesd step previews use (models.previews: the same `model.tiny_decoders` entry, keyed
(repo, device, dtype)), so previews and the final image never load it twice. Cost and difference against the full
VAE: bench/bench_tiny_decoder.py and README, "A class on a laptop".
"""
from __future__ import annotations

import torch

from explorer.errors import InputError
from explorer.messages import say

DECODERS = ("full", "tiny")
# madebyollin/taesd and madebyollin/taesdxl config.json (the same architecture; the weights differ): AutoencoderTiny
TAESD_CONFIG = dict(in_channels=3, out_channels=3, encoder_block_out_channels=(64, 64, 64, 64),
                    decoder_block_out_channels=(64, 64, 64, 64), act_fn="relu", latent_channels=4,
                    upsampling_scaling_factor=2, num_encoder_blocks=(1, 3, 3, 3), num_decoder_blocks=(3, 3, 3, 1),
                    latent_magnitude=3, latent_shift=0.5, scaling_factor=1.0)


def check_decoder(name: str) -> str:
    """A decoder name of DECODERS, else InputError naming the field."""
    if name not in DECODERS:
        raise InputError("decoder", say("checks.one_of", choices=", ".join(DECODERS)), name)
    return name


def tiny_repo(model) -> str:
    """The hub id of the model family's tiny decoder; refused naming the field where the family has none."""
    repo = model.adapter.taesd
    if repo is None or model.adapter.flow:                     # TAESD3 / TAEF1: previews only (16 latent channels)
        raise InputError("decoder", say("backends.no_tiny_decoder", family=model.family), "tiny")
    return repo


def random_tiny_decoder(seed: int = 0, upsamplings: int = 3):
    """AutoencoderTiny in the published shapes with random weights (tests and benches: no hub). `upsamplings`: 3 as
    published (latents x8); fewer for a test model whose VAE scales by 2 (its last decoder blocks, the same layers)."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    config = dict(TAESD_CONFIG)
    config.update(decoder_block_out_channels=config["decoder_block_out_channels"][-upsamplings - 1:],
                  num_decoder_blocks=config["num_decoder_blocks"][-upsamplings - 1:])
    return AutoencoderTiny(**config).eval()


def tiny_decoder(model, module=None):
    """The family's AutoencoderTiny on the model's device and dtype, loaded from the hub once (cached on the model
    with the taesd previews' own key). `module`: use this one instead (an AutoencoderTiny built here, e.g. random)."""
    repo = tiny_repo(model)
    key = (repo, str(model.device), model.dtype)
    if module is not None:
        model.tiny_decoders.put(key, module.to(model.device, model.dtype).eval())

    def load():
        from diffusers import AutoencoderTiny

        try:
            return AutoencoderTiny.from_pretrained(repo, dtype=model.dtype).to(model.device).eval()
        except (OSError, ValueError) as error:
            raise InputError("decoder", say("backends.tiny_failed", repo=repo), "tiny",
                             hint=str(error).splitlines()[0][:160] if str(error) else "") from error

    module = model.tiny_decoders.get(key, load)
    config = module.config
    factor = config.upsampling_scaling_factor ** (len(config.num_decoder_blocks) - 1)
    if factor != model.vae_scale_factor or config.latent_channels != model.pipe.vae.config.latent_channels:
        model.tiny_decoders.pop(key)
        raise InputError("decoder", say("backends.no_tiny_decoder", family=model.family), "tiny")
    return module


def use_decoder(model, name: str, module=None) -> None:
    """Decode `model`'s final images with `name` from now on; `tiny` is loaded now (a refusal before any image)."""
    check_decoder(name)
    if name == "tiny":
        tiny_decoder(model, module)
    model.decoder = name


def decoder_used(model, recipe) -> str:
    """The decoder a recipe's final image is made with: tiny where the recipe or the model's setting says so."""
    return "tiny" if "tiny" in (getattr(recipe, "decoder", "full"), getattr(model, "decoder", "full")) else "full"


@torch.no_grad()
def decode_tiny(model, latents: torch.Tensor) -> torch.Tensor:
    """Pipeline latents (B, 4, h, w) -> images (B, 3, 8h, 8w) in [-1, 1] by the tiny decoder (on the fast path when
    the model runs on one)."""
    module = tiny_decoder(model)
    fast = getattr(model, "fast_path", None)
    if fast is not None and fast.installed:
        return fast.tiny_decode(module, latents)
    return module.decode(latents.to(model.device, model.dtype), return_dict=False)[0]
