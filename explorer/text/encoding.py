"""Encodings of prompts: conditioning sequences, pooled vectors and token inputs, cached per model.

The family adapter (explorer.models.families) makes the tensors the denoiser needs; this module
keeps them in the model's bounded cache (`LoadedModel.encodings`), so a prompt used by several
views is encoded once.
"""
from __future__ import annotations

import torch

from explorer.errors import InputError
from explorer.messages import say
from explorer.text import emphasis
from explorer.text.tokens import ENCODER_NAMES, TokenReport, inspect_tokens, specials


# ---------------------------------------------------------------- cached, one prompt at a time
def conditioning(model, prompt: str) -> torch.Tensor:
    """The packed sequence (explorer.models.families), as the pipeline's encode_prompt makes it: (1, L, d)."""
    return model.encodings.get(("cond", prompt), lambda: encode_conditioning(model, prompt))


def pooled(model, prompt: str) -> torch.Tensor:
    """The pooled text vector the family reads back (adapter.pooled_about): (1, p) float32 on the CPU."""
    return model.encodings.get(("pooled", prompt), lambda: encode_pooled(model, [prompt]))


def weighted(model, prompt: str, field_name: str = "prompt") -> torch.Tensor:
    """The packed sequence of a prompt with A1111 emphasis syntax (text.emphasis): (1, L, d)."""
    return model.encodings.get(("weighted", prompt), lambda: encode_weighted(model, prompt, field_name))


def tokens(model, prompt: str) -> TokenReport:
    """The token report of inspect_tokens."""
    return model.encodings.get(("tokens", prompt), lambda: inspect_tokens(model, prompt))


def token_inputs(model, prompt: str) -> torch.Tensor:
    """The token embeddings before the transformer (no position embeddings): (1, 77, d)."""
    return model.encodings.get(("inputs", prompt), lambda: encode_token_inputs(model, prompt))


# ---------------------------------------------------------------- batches, uncached
@torch.no_grad()
def encode_conditioning(model, prompt: str | list[str]) -> torch.Tensor:
    """The family adapter's packed sequences without guidance: (B, L, d)."""
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    with model.text_lock:                       # the tokenizer's padding settings are shared state
        return model.adapter.encode_sequences(model.pipe, prompts, model.device)


@torch.no_grad()
def encode_pooled(model, prompts: list[str], batch_size: int = 64) -> torch.Tensor:
    """Pooled text vectors (B, p) with dynamic padding: CLIP's causal mask makes them equal to 77-padded ones.

    Which encoder's pooled vector is the family's choice (`adapter.pooled_about`); SDXL reads
    text_encoder_2's projected vector, the one its UNet also takes.
    """
    tokenizer = model.adapter.pooled_tokenizer(model.pipe)
    outputs = []
    for start in range(0, len(prompts), batch_size):
        with model.text_lock:                   # the tokenizer's padding settings are shared state
            batch = tokenizer(prompts[start:start + batch_size], padding=True, truncation=True,
                              max_length=tokenizer.model_max_length, return_tensors="pt")
        outputs.append(model.adapter.encode_pooled(model.pipe, batch["input_ids"], batch["attention_mask"]))
    return torch.cat(outputs)


@torch.no_grad()
def encode_weighted(model, prompt: str, field_name: str = "prompt") -> torch.Tensor:
    """A1111 emphasis: each fragment tokenized on its own, the encoder's output rows times their weights, the
    sequence rescaled to its original mean (text.emphasis; A1111 modules/sd_hijack_clip.py). (1, L, d).

    Every encoder's rows are weighed on their own, with its own pieces' weights (SD3: CLIP-L, CLIP-G and T5; FLUX:
    T5, whose rows are all the transformer reads, as Forge weighs T5); pooled vectors stay unweighted, as A1111
    leaves SDXL's. In the flow families CLIP is cut at 77 tokens as their pipelines cut it, T5 past its limit refused.
    """
    emphasis.check_supported(prompt, field_name)
    ids, weights = [], []
    with model.text_lock:                        # the tokenizers' settings are shared state
        for name, tokenizer in zip(ENCODER_NAMES, model.adapter.tokenizers(model.pipe)):
            content, content_weights = emphasis.weighted_ids(tokenizer, prompt)
            starts = specials(tokenizer) - 1                             # CLIP: a start token; T5: none
            room = tokenizer.model_max_length - starts - 1
            if len(content) > room and model.adapter.flow and starts:    # CLIP in SD3/FLUX: cut, as the pipeline does
                content, content_weights = content[:room], content_weights[:room]
            if len(content) > room:
                at_most = "tokens.at_most" if starts else "tokens.at_most_t5"
                raise InputError(field_name, say(at_most, room=room, name=name, n=tokenizer.model_max_length),
                                 say("tokens.count", n=len(content)))
            pad = room - len(content)
            ids.append(torch.tensor([[tokenizer.bos_token_id] * starts + [*content, tokenizer.eos_token_id]
                                     + [tokenizer.pad_token_id] * pad]))
            weights.append(torch.tensor([[1.0] * starts + [*content_weights, 1.0] + [1.0] * pad]))

    def weigh(z: torch.Tensor, encoder: int = -1) -> torch.Tensor:
        """Encoder `encoder`'s rows (B, T, d) weighed (SD and SDXL: one set of weights, the same pieces)."""
        return emphasis.apply(z, weights[encoder].to(z.device), field_name)

    return model.adapter.encode_ids(model.pipe, ids, weigh)


def token_ids(model, prompt: str | list[str]) -> list[torch.Tensor]:
    """Token ids padded to the encoder's length as the pipeline makes them, one (B, 77) per tokenizer."""
    ids = []
    with model.text_lock:
        for tokenizer in model.adapter.tokenizers(model.pipe):
            ids.append(tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length,
                                 truncation=True, return_tensors="pt")["input_ids"])
    return ids


@torch.no_grad()
def encode_token_inputs(model, prompt: str | list[str]) -> torch.Tensor:
    """Token-input embeddings, the rows of the token embedding table(s) for each position: (B, 77, D)."""
    return model.adapter.token_inputs(model.pipe, token_ids(model, prompt))


@torch.no_grad()
def encode_from_token_inputs(model, inputs_embeds: torch.Tensor, end) -> torch.Tensor:
    """Run token-input embeddings (B, 77, D) through the text transformer(s): packed sequences (B, L, d).

    `end` is the end-token position a pooled vector is read at (families with pooled conditioning): an
    int, or one per row.
    For the rows of one prompt this equals encode_conditioning(prompt) (tests/text/test_arithmetic.py).
    """
    return model.adapter.encode_token_inputs(model.pipe, inputs_embeds, end)
