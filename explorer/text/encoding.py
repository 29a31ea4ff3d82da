"""Encodings of prompts: conditioning sequences, pooled vectors and token inputs, cached per model.

The family adapter (explorer.models.families) makes the tensors the denoiser needs; this module
keeps them in the model's bounded cache (`LoadedModel.encodings`), so a prompt used by several
views is encoded once.
"""
from __future__ import annotations

import torch

from explorer.text.tokens import TokenReport, inspect_tokens, tokenize


# ---------------------------------------------------------------- cached, one prompt at a time
def conditioning(model, prompt: str) -> torch.Tensor:
    """The sequence the UNet attends to, exactly as the pipeline's encode_prompt makes it: (1, 77, d)."""
    return model.encodings.get(("cond", prompt), lambda: encode_conditioning(model, prompt))


def pooled(model, prompt: str) -> torch.Tensor:
    """The pooled text vector (the end token's final hidden state): (1, d) float32 on the CPU."""
    return model.encodings.get(("pooled", prompt), lambda: encode_pooled(model, [prompt]))


def tokens(model, prompt: str) -> TokenReport:
    """The token report of inspect_tokens."""
    return model.encodings.get(("tokens", prompt), lambda: inspect_tokens(model, prompt))


def token_inputs(model, prompt: str) -> torch.Tensor:
    """The token embeddings before the transformer (no position embeddings): (1, 77, d)."""
    return model.encodings.get(("inputs", prompt), lambda: encode_token_inputs(model, prompt))


# ---------------------------------------------------------------- batches, uncached
@torch.no_grad()
def encode_conditioning(model, prompt: str | list[str]) -> torch.Tensor:
    """The family adapter's encoding without guidance: (B, 77, d)."""
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    with model.lock:                       # the tokenizer's padding settings are shared state
        return model.adapter.encode_sequences(model.pipe, prompts, model.device)


@torch.no_grad()
def encode_pooled(model, prompts: list[str], batch_size: int = 64) -> torch.Tensor:
    """Pooled text vectors (B, d) with dynamic padding: CLIP's causal mask makes them equal to 77-padded ones."""
    tokenizer = model.tokenizer
    outputs = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenize(model, prompts[start:start + batch_size], padding=True, truncation=True,
                         max_length=tokenizer.model_max_length, return_tensors="pt")
        outputs.append(model.adapter.encode_pooled(model.pipe, batch["input_ids"], batch["attention_mask"]))
    return torch.cat(outputs)


def token_ids(model, prompt: str | list[str]) -> torch.Tensor:
    """Token ids padded to the encoder's length, as the pipeline makes them: (B, 77)."""
    tokenizer = model.tokenizer
    return tokenize(model, prompt, padding="max_length", max_length=tokenizer.model_max_length,
                    truncation=True, return_tensors="pt")["input_ids"]


@torch.no_grad()
def encode_token_inputs(model, prompt: str | list[str]) -> torch.Tensor:
    """Token-input embeddings, the rows of the token embedding table for each position: (B, 77, d)."""
    encoder = model.text_encoder
    return encoder.get_input_embeddings()(token_ids(model, prompt).to(encoder.device))


@torch.no_grad()
def encode_from_token_inputs(model, inputs_embeds: torch.Tensor) -> torch.Tensor:
    """Run token-input embeddings (B, 77, d) through CLIP's text transformer: the conditioning (B, 77, d).

    transformers 5's CLIPTextModel.forward takes only input_ids, so this repeats its steps
    (modeling_clip.py, CLIPTextModel.forward): add position embeddings, build the causal mask,
    run the encoder layers, apply the final layer norm. For the rows of one prompt this equals
    encode_conditioning(prompt) (tests/text/test_arithmetic.py checks it).
    """
    from transformers.masking_utils import create_causal_mask

    encoder = model.text_encoder
    text_model = getattr(encoder, "text_model", encoder)          # transformers 4 wraps it in .text_model
    inputs_embeds = inputs_embeds.to(device=encoder.device, dtype=encoder.dtype)
    hidden = text_model.embeddings(inputs_embeds=inputs_embeds)   # + position embeddings, (B, 77, d)
    mask = create_causal_mask(config=text_model.config, inputs_embeds=hidden, attention_mask=None,
                              past_key_values=None)                # each position sees itself and before
    hidden = text_model.encoder(inputs_embeds=hidden, attention_mask=mask, is_causal=True).last_hidden_state
    return text_model.final_layer_norm(hidden)                    # (B, 77, d)
