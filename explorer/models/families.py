"""One adapter per model family: what the features need to know about a family, in one place.

A feature never asks which family it runs on; it asks the adapter. An adapter encodes prompts
into the tensors the denoiser needs (`encode_sequences`, `make_conditioning`), reads a prompt's
pooled text vector (`encode_pooled`, for similarities and concept maps), and names the family's
preview map, tiny decoder, CLIP vision model and examples. diffusers keeps one pipeline class
per family; so does the explorer. Adding a family meant one more adapter here: SD3 and FLUX
(FlowMatchingFamily) are the proof.

The text side of a family is one tensor per prompt, the *packed sequence* (B, L, d): the rows
the UNet attends to, and for SDXL one row more holding the pooled vector the UNet also takes
(zero-padded to d). Every operation the explorer applies to prompts — lerp, per-token slerp,
weighted sums, per-token renormalisation — acts row by row, so on the packed sequence it applies
the same operation to the pooled vector, exactly as it would on its own (zero padding changes no
norm and no angle). `make_conditioning` unpacks it into the pipeline's keyword arguments.

Flow-matching transformers (SD3, FLUX) pack the same way: SD3's sequence is 77 CLIP rows (CLIP-L and
CLIP-G side by side, zero-padded to T5's width) then the T5 rows, plus one row holding the pooled
vector (CLIP-L + CLIP-G projections); FLUX's is the T5 rows plus one row holding CLIP-L's pooled vector.
Their latents have 16 channels; FLUX's pipeline works on 2x2 patches packed into tokens
(`pack_latents` / `unpack_latents`), SD3's on the latent image itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from explorer.errors import InputError
from explorer.messages import say
from explorer.models.conditioning import Conditioning
from explorer.models.presets import MINIWORLD_DIR

TOKENS = 77                                # CLIP's text context: the rows the UNet attends to

# Linear latent->RGB maps applied to the pipeline's scaled latents; output in [-1, 1]. Source: ComfyUI
# comfy/latent_formats.py (SD15 and SDXL latent_rgb_factors, fitted there on each family's VAE), the same
# idea as AUTOMATIC1111's "Approx cheap" preview. SD 1.x and 2.x share a VAE.
SD_LATENT_RGB = {"factors": [[0.3512, 0.2297, 0.3227],
                             [0.3250, 0.4974, 0.2350],
                             [-0.2829, 0.1762, 0.2721],
                             [-0.2120, -0.2616, -0.7177]],
                 "bias": [0.0, 0.0, 0.0]}
SDXL_LATENT_RGB = {"factors": [[0.3651, 0.4232, 0.4341],
                               [-0.2533, -0.0042, 0.1068],
                               [0.1076, 0.1111, -0.0362],
                               [-0.3165, -0.2492, -0.2188]],
                   "bias": [0.1084, -0.0175, -0.0011]}
# 16-channel maps of the flow-matching families' VAEs, applied to the pipeline's latents ((z - shift) * scale), the
# space ComfyUI's previews read too. Source: ComfyUI comfy/latent_formats.py, classes SD3 and Flux
# (latent_rgb_factors and latent_rgb_factors_bias).
SD3_LATENT_RGB = {"factors": [[-0.0922, -0.0175, 0.0749], [0.0311, 0.0633, 0.0954], [0.1994, 0.0927, 0.0458],
                              [0.0856, 0.0339, 0.0902], [0.0587, 0.0272, -0.0496], [-0.0006, 0.1104, 0.0309],
                              [0.0978, 0.0306, 0.0427], [-0.0042, 0.1038, 0.1358], [-0.0194, 0.0020, 0.0669],
                              [-0.0488, 0.0130, -0.0268], [0.0922, 0.0988, 0.0951], [-0.0278, 0.0524, -0.0542],
                              [0.0332, 0.0456, 0.0895], [-0.0069, -0.0030, -0.0810], [-0.0596, -0.0465, -0.0293],
                              [-0.1448, -0.1463, -0.1189]],
                  "bias": [0.2394, 0.2135, 0.1925]}
FLUX_LATENT_RGB = {"factors": [[-0.0346, 0.0244, 0.0681], [0.0034, 0.0210, 0.0687], [0.0275, -0.0668, -0.0433],
                               [-0.0174, 0.0160, 0.0617], [0.0859, 0.0721, 0.0329], [0.0004, 0.0383, 0.0115],
                               [0.0405, 0.0861, 0.0915], [-0.0236, -0.0185, -0.0259], [-0.0245, 0.0250, 0.1180],
                               [0.1008, 0.0755, -0.0421], [-0.0515, 0.0201, 0.0011], [0.0428, -0.0012, -0.0036],
                               [0.0817, 0.0765, 0.0749], [-0.1264, -0.0522, -0.1103], [-0.0280, -0.0881, -0.0499],
                               [-0.1262, -0.0982, -0.0778]],
                   "bias": [-0.0329, -0.0718, -0.0851]}


def run_text_transformer(encoder, inputs_embeds: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Token-input embeddings (B, 77, d) through a CLIP text transformer: (hidden states per layer, final output).

    transformers 5's CLIPTextModel.forward takes only input_ids, so this repeats its steps
    (modeling_clip.py, CLIPTextTransformer.forward): add position embeddings, build the causal mask,
    run the encoder layers, apply the final layer norm. hidden[0] is the embedding output, hidden[-1]
    the last layer's, as in `output_hidden_states=True`.
    """
    from transformers.masking_utils import create_causal_mask

    text_model = getattr(encoder, "text_model", encoder)
    inputs_embeds = inputs_embeds.to(device=encoder.device, dtype=encoder.dtype)
    hidden = text_model.embeddings(inputs_embeds=inputs_embeds)            # + position embeddings
    mask = create_causal_mask(config=text_model.config, inputs_embeds=hidden, attention_mask=None,
                              past_key_values=None)
    states = [hidden]
    for layer in text_model.encoder.layers:
        hidden = layer(hidden, mask, is_causal=True)
        hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        states.append(hidden)
    return tuple(states), text_model.final_layer_norm(hidden)


@dataclass(frozen=True)
class StableDiffusionFamily:
    """SD 1.x / 2.x and the models built like them: one CLIP text encoder, sequence conditioning only."""

    name: str                                  # "sd1", "sd2", "tiny", "miniworld"
    about: str                                 # one line for the UI
    pipeline: str = "StableDiffusionPipeline"  # the diffusers pipeline class
    latent_rgb: dict = field(default_factory=lambda: SD_LATENT_RGB)  # approx preview map (a model file may override)
    taesd: str | None = None                   # hub id of the family's AutoencoderTiny
    vision: tuple[str, str] | None = None      # CLIP vision model: (source, one line for the UI)
    examples: str = "stable-diffusion"         # key of explorer.models.examples.BY_NAME
    min_size: int = 32                         # smallest width/height the family makes sense at (pixels)
    penultimate: bool = False                  # the UNet reads the encoders' penultimate hidden states (SDXL)
    pooled_about: str = say("families.pooled")
    training_words: tuple[str, ...] | None = None  # every word of its training captions (None: not known, as for SD)
    clip_states: bool = True     # the denoiser attends to CLIP's hidden states (FLUX: CLIP gives only its pooled vector)
    flow: bool = False           # trained by flow matching: x_t = (1 - sigma) x0 + sigma eps, the model predicts eps - x0
    schedulers: tuple[str, ...] | None = None     # the schedulers it takes (None: every one of presets.SCHEDULERS)

    # ------------------------------------------------------------ the denoiser and its latents
    def denoiser(self, pipe):
        """The network that denoises: the UNet here, a transformer in the flow-matching families."""
        return pipe.unet

    def size_multiple(self, pipe) -> int:
        """Widths and heights must be multiples of this (pixels per latent cell, times a patch where there is one)."""
        return int(pipe.vae_scale_factor)

    def latent_shape(self, pipe, batch: int, height: int, width: int) -> tuple:
        """(B, C, h, w) of the initial noise as the pipeline's prepare_latents draws it."""
        scale = int(pipe.vae_scale_factor)
        return (batch, self.denoiser(pipe).config.in_channels, height // scale, width // scale)

    def pack_latents(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, C, h, w) as the pipeline's loop holds them (FLUX: 2x2 patches as tokens)."""
        return latents

    def unpack_latents(self, pipe, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """The pipeline's loop latents back to (B, C, h, w), the VAE's layout."""
        return latents

    def guided(self, guidance: float) -> bool:
        """Whether the pipeline runs classifier-free guidance (negative and positive rows) at this guidance scale."""
        return guidance > 1

    def check_recipe(self, pipe, recipe) -> None:
        """Refuse what this family cannot make (nothing beyond the general checks here)."""

    # ------------------------------------------------------------ what the model has
    def tokenizers(self, pipe) -> list:
        """The tokenizers of the text encoders, in the pipeline's order."""
        return [pipe.tokenizer]

    def text_encoders(self, pipe) -> list:
        return [pipe.text_encoder]

    def pooled_tokenizer(self, pipe):
        """The tokenizer of the encoder whose pooled vector the explorer reads back."""
        return pipe.tokenizer

    def pooled_encoder(self, pipe):
        """The encoder whose pooled vector the explorer reads back (concept indexes are keyed by its weights)."""
        return pipe.text_encoder

    # ------------------------------------------------------------ encoding
    @torch.no_grad()
    def encode_sequences(self, pipe, prompts: list[str], device: torch.device) -> torch.Tensor:
        """The packed sequences, exactly as the pipeline's encode_prompt makes them: (B, 77, d)."""
        embeds, _ = pipe.encode_prompt(prompts, device, 1, False)
        return embeds

    def empty_negative(self, pipe, like: torch.Tensor) -> torch.Tensor | None:
        """What an empty negative prompt encodes to when the family does not encode "" (None: encode it)."""
        return None

    @torch.no_grad()
    def encode_ids(self, pipe, ids: list[torch.Tensor], weigh) -> torch.Tensor:
        """Packed sequences (B, L, d) from token ids (one (B, 77) per tokenizer), as encode_prompt encodes them,
        with `weigh(z)` applied to each encoder's token rows (A1111 emphasis, text.emphasis.apply)."""
        encoder = pipe.text_encoder
        return weigh(encoder(ids[0].to(encoder.device))[0])

    @torch.no_grad()
    def encode_pooled(self, pipe, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The pooled text vector of `pooled_tokenizer`'s ids: (B, p), float32 on the CPU."""
        encoder = pipe.text_encoder
        out = encoder(input_ids.to(encoder.device), attention_mask=attention_mask.to(encoder.device))
        return out.pooler_output.float().cpu()

    def pooled_from_sequence(self, pipe, packed: torch.Tensor, end: int) -> torch.Tensor:
        """The pooled vector inside one packed sequence (L, d): here the end token's row (last_hidden_state
        after the final layer norm, which is what pooler_output reads)."""
        return packed[end]

    @property
    def readback_note(self) -> str:
        """One sentence for views that compare pooled vectors, where the family has more than one to choose."""
        return ""

    # ------------------------------------------------------------ token space
    @torch.no_grad()
    def token_inputs(self, pipe, ids: list[torch.Tensor]) -> torch.Tensor:
        """The token embeddings before the transformer, one table per encoder, side by side: (B, 77, D)."""
        return torch.cat([encoder.get_input_embeddings()(i.to(encoder.device))
                          for encoder, i in zip(self.text_encoders(pipe), ids)], dim=-1)

    @torch.no_grad()
    def encode_token_inputs(self, pipe, inputs: torch.Tensor, end) -> torch.Tensor:
        """Token-input embeddings (B, 77, D) through the text transformer: packed sequences.

        `end`: the end-token position where a pooled row is read (an int, or one per row).

        For the rows of one prompt this equals encode_sequences(prompt) (tests/text/test_arithmetic.py).
        """
        return run_text_transformer(pipe.text_encoder, inputs)[1]

    # ------------------------------------------------------------ the denoiser's inputs
    def make_conditioning(self, pipe, prompt_embeds: torch.Tensor, negative_prompt_embeds: torch.Tensor,
                          weights: tuple[float, ...] | None = None) -> Conditioning:
        """Both guidance halves as the denoiser takes them: (B, 77, d) each (or n sequences for AND)."""
        return Conditioning(prompt_embeds, negative_prompt_embeds, weights=weights)

    def unet_kwargs(self, pipe, conditioning: Conditioning, height: int, width: int, rows: int) -> dict:
        """Extra UNet keyword arguments for `rows` stacked inputs (negative first, then the prompts)."""
        return {}


@dataclass(frozen=True)
class StableDiffusionXLFamily(StableDiffusionFamily):
    """SDXL (Podell et al. 2023): two CLIP text encoders and a pooled vector with size conditioning.

    The UNet attends to the concatenation of both encoders' penultimate hidden states (768 + 1280 =
    2048 per token) and also takes text_encoder_2's projected pooled vector (1280) plus six size ids
    (original size, crop corner, target size). Packed sequence: (B, 78, 2048), row 77 = the pooled vector.
    """

    pipeline: str = "StableDiffusionXLPipeline"
    penultimate: bool = True
    latent_rgb: dict = field(default_factory=lambda: SDXL_LATENT_RGB)
    examples: str = "sdxl"
    pooled_about: str = say("families.pooled_xl")

    def tokenizers(self, pipe) -> list:
        return [pipe.tokenizer, pipe.tokenizer_2]

    def text_encoders(self, pipe) -> list:
        return [pipe.text_encoder, pipe.text_encoder_2]

    def pooled_tokenizer(self, pipe):
        return pipe.tokenizer_2

    @property
    def readback_note(self) -> str:
        return say("families.readback", about=self.pooled_about)

    def pooled_encoder(self, pipe):
        return pipe.text_encoder_2

    @torch.no_grad()
    def encode_sequences(self, pipe, prompts: list[str], device: torch.device) -> torch.Tensor:
        embeds, _, pooled, _ = pipe.encode_prompt(prompts, device=device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
        return self.pack(embeds, pooled)

    def empty_negative(self, pipe, like: torch.Tensor) -> torch.Tensor | None:
        """force_zeros_for_empty_prompt (SDXL 1.0 base): no negative prompt means zeros, not the encoding of ""."""
        return torch.zeros_like(like) if pipe.config.get("force_zeros_for_empty_prompt", False) else None

    @torch.no_grad()
    def encode_ids(self, pipe, ids: list[torch.Tensor], weigh) -> torch.Tensor:
        """Each encoder's penultimate states (weighed on their own, as A1111 weighs each of SDXL's encoders),
        side by side; the pooled vector of text_encoder_2 as it is (A1111 does not weigh it)."""
        rows, pooled = [], None
        for encoder, encoder_ids in zip(self.text_encoders(pipe), ids):
            out = encoder(encoder_ids.to(encoder.device), output_hidden_states=True)
            if out[0].ndim == 2:                  # CLIPTextModelWithProjection: text_embeds first
                pooled = out[0]
            rows.append(weigh(out.hidden_states[-2]))
        return self.pack(torch.cat(rows, dim=-1), pooled)

    @torch.no_grad()
    def encode_pooled(self, pipe, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        encoder = pipe.text_encoder_2
        out = encoder(input_ids.to(encoder.device), attention_mask=attention_mask.to(encoder.device))
        return out.text_embeds.float().cpu()

    def pooled_from_sequence(self, pipe, packed: torch.Tensor, end: int) -> torch.Tensor:
        return packed[TOKENS, :self.pooled_dim(pipe)]

    @torch.no_grad()
    def encode_token_inputs(self, pipe, inputs: torch.Tensor, end: int) -> torch.Tensor:
        """Each encoder runs on its own slice of the inputs; penultimate states concatenated, pooled at `end`."""
        width = pipe.text_encoder.config.hidden_size
        states_1, _ = run_text_transformer(pipe.text_encoder, inputs[..., :width])
        states_2, final_2 = run_text_transformer(pipe.text_encoder_2, inputs[..., width:])
        rows = torch.arange(final_2.shape[0], device=final_2.device)
        ends = torch.as_tensor(end, device=final_2.device).expand(final_2.shape[0])         # one per row, or shared
        pooled = pipe.text_encoder_2.text_projection(final_2[rows, ends])                   # (B, 1280)
        return self.pack(torch.cat([states_1[-2], states_2[-2]], dim=-1), pooled)

    def make_conditioning(self, pipe, prompt_embeds: torch.Tensor, negative_prompt_embeds: torch.Tensor,
                          weights: tuple[float, ...] | None = None) -> Conditioning:
        (seq, pooled), (neg, neg_pooled) = self.unpack(pipe, prompt_embeds), self.unpack(pipe, negative_prompt_embeds)
        return Conditioning(seq, neg, pooled, neg_pooled, weights=weights)

    def unet_kwargs(self, pipe, conditioning: Conditioning, height: int, width: int, rows: int) -> dict:
        """SDXL's added conditions as StableDiffusionXLPipeline.__call__ makes them: pooled text and size ids."""
        text = torch.cat([conditioning.negative_pooled_prompt_embeds, conditioning.pooled_prompt_embeds])
        ids = pipe._get_add_time_ids((height, width), (0, 0), (height, width), dtype=text.dtype,
                                     text_encoder_projection_dim=int(pipe.text_encoder_2.config.projection_dim))
        return {"added_cond_kwargs": {"text_embeds": text, "time_ids": ids.to(text.device).repeat(rows, 1)}}

    # ------------------------------------------------------------ packing
    @staticmethod
    def pack(embeds: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """(B, 77, d) and (B, p) -> (B, 78, d): the pooled vector as one more row, zero-padded to d."""
        row = torch.zeros(embeds.shape[0], 1, embeds.shape[-1], dtype=embeds.dtype, device=embeds.device)
        row[:, 0, :pooled.shape[-1]] = pooled.to(embeds.dtype)
        return torch.cat([embeds, row], dim=1)

    def unpack(self, pipe, packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 78, d) -> (B, 77, d), (B, p)."""
        return packed[:, :TOKENS], packed[:, TOKENS, :self.pooled_dim(pipe)]

    @staticmethod
    def pooled_dim(pipe) -> int:
        """The width of the pooled vector: text_encoder_2's projection (1280 in SDXL)."""
        return int(pipe.text_encoder_2.config.projection_dim)


@dataclass(frozen=True)
class FlowMatchingFamily(StableDiffusionXLFamily):
    """Diffusion transformers trained by flow matching (Esser et al. 2024, SD3; Black Forest Labs 2024, FLUX.1).

    x_t = (1 - sigma) x0 + sigma eps on a straight line; the transformer predicts the velocity v = eps - x0, so the
    clean-image guess is x0 = x_t - sigma v. Text: CLIP encoder(s) and a T5 encoder, whose length is the tokenizer's
    model_max_length (the preset sets it to the pipeline's max_sequence_length). Packed sequence: the rows the
    transformer attends to plus one pooled row (zero-padded to their width), like SDXL's.
    """

    flow: bool = True
    schedulers: tuple[str, ...] | None = ("euler",)           # FlowMatchEulerDiscreteScheduler (presets.FLOW_SCHEDULERS)
    composable: bool = False       # Composable Diffusion's AND runs (generation.composable): SD3 yes, FLUX no
    min_size: int = 32

    def denoiser(self, pipe):
        return pipe.transformer

    def t5(self, pipe) -> tuple:
        """(tokenizer, encoder) of the T5 encoder."""
        raise NotImplementedError

    def pooled_tokenizer(self, pipe):
        return pipe.tokenizer                  # CLIP(-L): T5 has no pooled vector

    def text_length(self, pipe) -> int:
        """max_sequence_length: the T5 tokens the pipeline pads and cuts to."""
        return int(self.t5(pipe)[0].model_max_length)

    @property
    def readback_note(self) -> str:
        return say("families.readback", about=self.pooled_about)

    # ------------------------------------------------------------ what the explorer does not do here (yet)
    def empty_negative(self, pipe, like: torch.Tensor) -> torch.Tensor | None:
        return None

    def encode_ids(self, pipe, ids, weigh):
        raise InputError("emphasis", say("families.flow_emphasis"), "a1111")      # a family that does not say how

    def token_inputs(self, pipe, ids):
        raise InputError("space", say("families.flow_token_space"), "token")

    def encode_token_inputs(self, pipe, inputs, end):
        raise InputError("space", say("families.flow_token_space"), "token")

    def and_refused(self) -> str:
        """What the operator may be where AND does not run (a family that does not say why)."""
        return say("families.flow_and", about=self.about)

    def check_recipe(self, pipe, recipe) -> None:
        """Sizes in whole patches; AND only where the family composes it; only the flow-matching Euler scheduler."""
        multiple = self.size_multiple(pipe)
        for name in ("width", "height"):
            if getattr(recipe, name) % multiple:
                raise InputError(name, say("families.size_multiple", n=multiple, about=self.about), getattr(recipe, name))
        if recipe.blend is not None and recipe.blend.operator == "and" and not self.composable:
            raise InputError("operator", self.and_refused(), recipe.blend.operator)
        if recipe.scheduler not in self.schedulers:
            raise InputError("scheduler", say("checks.one_of", choices=", ".join(self.schedulers)), recipe.scheduler)

    # ------------------------------------------------------------ packing: the pooled vector as the last row
    def pooled_from_sequence(self, pipe, packed: torch.Tensor, end: int) -> torch.Tensor:
        return packed[-1, :self.pooled_dim(pipe)]

    def unpack(self, pipe, packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L + 1, d) -> (B, L, d), (B, p)."""
        return packed[:, :-1], packed[:, -1, :self.pooled_dim(pipe)]

    def make_conditioning(self, pipe, prompt_embeds: torch.Tensor, negative_prompt_embeds: torch.Tensor,
                          weights: tuple[float, ...] | None = None) -> Conditioning:
        if weights is not None and not self.composable:    # Composable Diffusion's n sequences (check_recipe first)
            raise InputError("operator", self.and_refused(), weights)
        (seq, pooled), (neg, neg_pooled) = self.unpack(pipe, prompt_embeds), self.unpack(pipe, negative_prompt_embeds)
        return Conditioning(seq, neg, pooled, neg_pooled, weights=weights)


@dataclass(frozen=True)
class StableDiffusion3Family(FlowMatchingFamily):
    """SD3 / SD3.5 (Esser et al. 2024): MMDiT with joint attention; CLIP-L + CLIP-G (penultimate states, side by
    side, zero-padded to T5's width) then T5 rows; pooled = CLIP-L and CLIP-G projections side by side."""

    pipeline: str = "StableDiffusion3Pipeline"
    latent_rgb: dict = field(default_factory=lambda: SD3_LATENT_RGB)
    composable: bool = True        # true CFG: an unconditional velocity to compose the prompts' against
    examples: str = "stable-diffusion"
    pooled_about: str = say("families.pooled_sd3")

    rows_without_t5: int = 256   # T5 rows (zeros) when the pipeline has no T5 (text_encoder_3=None): diffusers' default

    def tokenizers(self, pipe) -> list:            # without T5 (text_encoder_3=None, as diffusers allows) the CLIPs
        return [t for t in (pipe.tokenizer, pipe.tokenizer_2, pipe.tokenizer_3) if t is not None]

    def text_encoders(self, pipe) -> list:
        return [e for e in (pipe.text_encoder, pipe.text_encoder_2, pipe.text_encoder_3) if e is not None]

    def t5(self, pipe) -> tuple:
        """(tokenizer, encoder) of T5; (None, None) where the pipeline was loaded without it."""
        return pipe.tokenizer_3, pipe.text_encoder_3

    def text_length(self, pipe) -> int:
        """max_sequence_length; without T5 the zero rows the pipeline puts in its place (`rows_without_t5`)."""
        return self.rows_without_t5 if pipe.tokenizer_3 is None else super().text_length(pipe)

    def pooled_encoder(self, pipe):
        return pipe.text_encoder

    def size_multiple(self, pipe) -> int:
        return int(pipe.vae_scale_factor) * int(pipe.patch_size)

    @torch.no_grad()
    def encode_sequences(self, pipe, prompts: list[str], device: torch.device) -> torch.Tensor:
        embeds, _, pooled, _ = pipe.encode_prompt(prompts, prompts, prompts, device=device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False,
                                                  max_sequence_length=self.text_length(pipe))
        return self.pack(embeds, pooled)

    @torch.no_grad()
    def encode_ids(self, pipe, ids: list[torch.Tensor], weigh) -> torch.Tensor:
        """As StableDiffusion3Pipeline.encode_prompt from token ids (CLIP-L, CLIP-G, T5), each encoder's rows weighed
        with its own pieces' weights (`weigh(z, encoder)`); the pooled projections unweighted."""
        rows, pooled = [], []
        for index, encoder in enumerate((pipe.text_encoder, pipe.text_encoder_2)):
            out = encoder(ids[index].to(encoder.device), output_hidden_states=True)
            pooled.append(out[0])
            rows.append(weigh(out.hidden_states[-2], index))
        t5 = weigh(pipe.text_encoder_3(ids[2].to(pipe.text_encoder_3.device))[0], 2)
        clip = torch.nn.functional.pad(torch.cat(rows, dim=-1), (0, t5.shape[-1] - sum(r.shape[-1] for r in rows)))
        return self.pack(torch.cat([clip, t5.to(clip.dtype)], dim=-2), torch.cat(pooled, dim=-1))

    @torch.no_grad()
    def encode_pooled(self, pipe, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """CLIP-L's and CLIP-G's projected pooled vectors side by side, as the transformer takes them: (B, 2 p)."""
        outs = [encoder(input_ids.to(encoder.device), attention_mask=attention_mask.to(encoder.device)).text_embeds
                for encoder in (pipe.text_encoder, pipe.text_encoder_2)]
        return torch.cat(outs, dim=-1).float().cpu()

    @staticmethod
    def pooled_dim(pipe) -> int:
        return int(pipe.text_encoder.config.projection_dim) + int(pipe.text_encoder_2.config.projection_dim)


@dataclass(frozen=True)
class FluxFamily(FlowMatchingFamily):
    """FLUX.1 (Black Forest Labs 2024): double- and single-stream transformer blocks over 2x2 latent patches; the
    sequence is T5's, CLIP-L gives only its pooled vector. No negative half: dev takes guidance as an *input*
    (guidance-distilled), schnell none at all (timestep-distilled, 1-4 steps)."""

    pipeline: str = "FluxPipeline"
    latent_rgb: dict = field(default_factory=lambda: FLUX_LATENT_RGB)
    penultimate: bool = False
    clip_states: bool = False
    pooled_about: str = say("families.pooled_flux")

    def and_refused(self) -> str:
        """No unconditional prediction (guidance-distilled): nothing for AND to compose against."""
        return say("families.flux_and", about=self.about)

    def t5(self, pipe) -> tuple:
        return pipe.tokenizer_2, pipe.text_encoder_2

    def pooled_encoder(self, pipe):
        return pipe.text_encoder

    def size_multiple(self, pipe) -> int:
        return int(pipe.vae_scale_factor) * 2

    def latent_shape(self, pipe, batch: int, height: int, width: int) -> tuple:
        """FluxPipeline.prepare_latents: 16 channels, latent sides rounded down to whole 2x2 patches."""
        scale = int(pipe.vae_scale_factor) * 2
        return (batch, pipe.transformer.config.in_channels // 4, 2 * (height // scale), 2 * (width // scale))

    def pack_latents(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        if latents.ndim != 4:
            return latents                                              # packed already
        b, c, h, w = latents.shape
        return pipe._pack_latents(latents, b, c, h, w)                  # (B, h/2 * w/2, 4 C)

    def unpack_latents(self, pipe, latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
        if latents.ndim != 3:
            return latents
        return pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)

    def guided(self, guidance: float) -> bool:
        return False                        # one pass per step: guidance is an input of dev, ignored by schnell

    def check_recipe(self, pipe, recipe) -> None:
        """No true CFG (a negative prompt would need it: two passes a step, which neither FLUX.1 model was trained
        for); guidance only where the transformer takes it (dev, not schnell)."""
        super().check_recipe(pipe, recipe)
        if recipe.negative_prompt and recipe.negative_prompt.strip():
            raise InputError("negative_prompt", say("families.flux_negative", about=self.about),
                             recipe.negative_prompt)
        if not pipe.transformer.config.guidance_embeds and recipe.guidance != 0:
            raise InputError("guidance", say("families.flux_no_guidance"), recipe.guidance)

    @torch.no_grad()
    def encode_sequences(self, pipe, prompts: list[str], device: torch.device) -> torch.Tensor:
        embeds, pooled, _ = pipe.encode_prompt(prompts, prompts, device=device, num_images_per_prompt=1,
                                               max_sequence_length=self.text_length(pipe))
        return self.pack(embeds, pooled)

    @torch.no_grad()
    def encode_ids(self, pipe, ids: list[torch.Tensor], weigh) -> torch.Tensor:
        """As FluxPipeline.encode_prompt from token ids (CLIP-L, T5): T5's rows weighed (`weigh(z, 1)`), CLIP-L's
        pooled output as it is (it is all FLUX reads of CLIP)."""
        pooled = pipe.text_encoder(ids[0].to(pipe.text_encoder.device), output_hidden_states=False).pooler_output
        t5 = weigh(pipe.text_encoder_2(ids[1].to(pipe.text_encoder_2.device), output_hidden_states=False)[0], 1)
        return self.pack(t5, pooled)

    @torch.no_grad()
    def encode_pooled(self, pipe, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """CLIP-L's pooled output (no projection), as FluxPipeline takes it: (B, 768)."""
        encoder = pipe.text_encoder
        out = encoder(input_ids.to(encoder.device), attention_mask=attention_mask.to(encoder.device))
        return out.pooler_output.float().cpu()

    @staticmethod
    def pooled_dim(pipe) -> int:
        return int(pipe.text_encoder.config.hidden_size)


def read_word_list(path: Path) -> tuple[str, ...] | None:
    """The words of a word list (one a line, `#` comments), lower case; None when the model ships none."""
    if not path.is_file():
        return None
    lines = (line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


FAMILIES: dict[str, StableDiffusionFamily] = {
    "sd1": StableDiffusionFamily(
        "sd1", say("families.sd1"), taesd="madebyollin/taesd",
        vision=("openai/clip-vit-large-patch14", say("families.vision_sd1"))),
    "sd2": StableDiffusionFamily(
        "sd2", say("families.sd2"), taesd="madebyollin/taesd",
        vision=("laion/CLIP-ViT-H-14-laion2B-s32B-b79K", say("families.vision_sd2"))),
    "sdxl": StableDiffusionXLFamily(
        "sdxl", say("families.sdxl"), taesd="madebyollin/taesdxl", min_size=512,
        vision=("laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", say("families.vision_sdxl"))),
    "miniworld": StableDiffusionFamily(
        "miniworld", say("families.miniworld"), examples="miniworld",
        vision=(str(MINIWORLD_DIR / "clip"), say("families.vision_miniworld")),
        training_words=read_word_list(MINIWORLD_DIR / "words.txt")),   # written by explorer/miniworld/train.py
    "tiny": StableDiffusionFamily(
        "tiny", say("families.tiny"), vision=("builtin", say("families.vision_tiny"))),
    "tiny-xl": StableDiffusionXLFamily(
        "tiny-xl", say("families.tiny_xl"), examples="sdxl", vision=("builtin", say("families.vision_tiny"))),
    "sd3": StableDiffusion3Family("sd3", say("families.sd3"), taesd="madebyollin/taesd3", min_size=256),
    "flux": FluxFamily("flux", say("families.flux"), taesd="madebyollin/taef1", min_size=256),
    "tiny-sd3": StableDiffusion3Family("tiny-sd3", say("families.tiny_sd3"),
                                       vision=("builtin", say("families.vision_tiny"))),
    "tiny-flux": FluxFamily("tiny-flux", say("families.tiny_flux"), vision=("builtin", say("families.vision_tiny"))),
    # trained by explorer/miniworld/train_dit.py with no T5 and no T5 rows (max_sequence_length 0); its latent_rgb.json,
    # CLIP and word list are miniworld's (the same VAE and text encoder)
    "miniworld-dit": StableDiffusion3Family(
        "miniworld-dit", say("families.miniworld_dit"), examples="miniworld", rows_without_t5=0,
        vision=(str(MINIWORLD_DIR / "clip"), say("families.vision_miniworld")),
        training_words=read_word_list(MINIWORLD_DIR / "words.txt")),
}


def family_adapter(name: str) -> StableDiffusionFamily:
    """The adapter of a family by name."""
    if name not in FAMILIES:
        raise InputError("family", say("checks.one_of", choices=", ".join(FAMILIES)), name)
    return FAMILIES[name]
