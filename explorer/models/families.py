"""One adapter per model family: what the features need to know about a family, in one place.

A feature never asks which family it runs on; it asks the adapter. An adapter encodes prompts
into the tensors the denoiser needs (`encode_sequences`, `make_conditioning`), reads a prompt's
pooled text vector (`encode_pooled`, for similarities and concept maps), and names the family's
preview map, tiny decoder, CLIP vision model and examples. diffusers keeps one pipeline class
per family; so does the explorer. Adding a family (SD3, FLUX) means one more adapter here.

The text side of a family is one tensor per prompt, the *packed sequence* (B, L, d): the rows
the UNet attends to, and for SDXL one row more holding the pooled vector the UNet also takes
(zero-padded to d). Every operation the explorer applies to prompts — lerp, per-token slerp,
weighted sums, per-token renormalisation — acts row by row, so on the packed sequence it applies
the same operation to the pooled vector, exactly as it would on its own (zero padding changes no
norm and no angle). `make_conditioning` unpacks it into the pipeline's keyword arguments.
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
}


def family_adapter(name: str) -> StableDiffusionFamily:
    """The adapter of a family by name."""
    if name not in FAMILIES:
        raise InputError("family", say("checks.one_of", choices=", ".join(FAMILIES)), name)
    return FAMILIES[name]
