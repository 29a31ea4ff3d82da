"""What the text encoder sees: tokens, the 77-token limit, conditioning sequences and pooled vectors."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch

from explorer.errors import InputError
from explorer.models import tokenizer_lock

CACHE_SIZE = 512          # encodings kept per model (LRU)
END_OF_WORD = "</w>"      # CLIP's BPE marks the last piece of each word with it


@dataclass
class TokenInfo:
    position: int         # index in the 77-token sequence (or beyond it, when cut)
    text: str             # the word piece as written, "</w>" marks the end of a word
    id: int               # vocabulary id
    kind: str             # "start", "word", "end", "pad" or "cut"
    input_norm: float | None = None    # |token embedding| before the transformer
    output_norm: float | None = None   # |hidden state| the UNet attends to
    word: int | None = None            # index of the word this piece belongs to (content tokens only)


@dataclass
class TokenReport:
    prompt: str
    tokens: list[TokenInfo]
    limit: int            # the encoder's sequence length (77 for CLIP)
    used: int             # content tokens that fit (at most limit - 2)
    cut_text: str         # the part of the prompt the limit cuts off ("" when all fits)

    def rows(self) -> list[list]:
        return [[t.position, t.text, t.id, t.kind,
                 None if t.input_norm is None else round(t.input_norm, 3),
                 None if t.output_norm is None else round(t.output_norm, 3)] for t in self.tokens]

    def words(self) -> list[tuple[str, list[str]]]:
        """Each word of the prompt as the tokenizer read it, with its pieces: [("sankt", ["san", "kt</w>"]), ...]."""
        grouped: dict[int, list[str]] = {}
        for t in self.tokens:
            if t.word is not None:
                grouped.setdefault(t.word, []).append(t.text)
        return [("".join(pieces).replace(END_OF_WORD, ""), pieces) for _, pieces in sorted(grouped.items())]

    def split_words(self) -> list[tuple[str, list[str]]]:
        """Words the vocabulary does not hold whole: broken into several pieces (often non-English words)."""
        return [(word, pieces) for word, pieces in self.words() if len(pieces) > 1]

    @property
    def end_position(self) -> int:
        """Position of the end token, whose final hidden state is the pooled vector."""
        return self.used + 1

    def summary(self) -> str:
        words = sum(1 for t in self.tokens if t.kind in ("word", "cut"))
        text = f"{words} word-piece tokens; {self.used} of {self.limit - 2} fit between the start and end tokens."
        split = self.split_words()
        if split:
            shown = "; ".join(f"'{w}' → {' + '.join(p.replace(END_OF_WORD, '') for p in pieces)}"
                              for w, pieces in split[:8])
            text += (f" {len(split)} word(s) are not in the vocabulary whole and are split into pieces: {shown}"
                     f"{' …' if len(split) > 8 else ''}. The encoder sees these fragments, not the words.")
        if self.cut_text:
            text += f" Cut by the {self.limit}-token limit: '{self.cut_text}'."
        return text


def tokenize(tokenizer, *args, **kwargs):
    """tokenizer(...) under the owning model's lock: the fast tokenizer's padding state is shared."""
    with tokenizer_lock(tokenizer):
        return tokenizer(*args, **kwargs)


def _content_ids(tokenizer, text: str) -> list[int]:
    return tokenize(tokenizer, text, add_special_tokens=False, truncation=False)["input_ids"]


def check_prompt_length(tokenizer, text: str, field: str = "prompt") -> None:
    """Refuse a prompt longer than the encoder reads, naming the words that would be cut."""
    if not text:
        return
    ids = _content_ids(tokenizer, text)
    room = tokenizer.model_max_length - 2
    if len(ids) > room:
        cut = tokenizer.decode(ids[room:]).strip()
        raise InputError(field, f"at most {room} tokens (the text encoder reads {tokenizer.model_max_length}"
                         " including its start and end tokens)", f"{len(ids)} tokens",
                         hint=f"These words would be cut: '{cut}'")


def inspect_tokens(model, prompt: str) -> TokenReport:
    """Tokens, ids, start/end/padding, where the limit cuts, and per-token vector norms."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt", "a non-empty prompt", prompt)
    tokenizer, encoder = model.tokenizer, model.text_encoder
    limit = tokenizer.model_max_length
    content = _content_ids(tokenizer, prompt)
    used = min(len(content), limit - 2)
    ids = tokenize(tokenizer, prompt, padding="max_length", max_length=limit, truncation=True, return_tensors="pt")
    input_ids = ids["input_ids"].to(encoder.device)                     # (1, 77)
    with torch.no_grad():
        inputs = encoder.get_input_embeddings()(input_ids)[0]           # (77, d)
        hidden = encoder(input_ids)[0][0]                               # (77, d)
    names = tokenizer.convert_ids_to_tokens(input_ids[0].tolist())
    word_of = _word_indices(tokenizer.convert_ids_to_tokens(content))     # one per content token
    tokens = []
    for position, (token_id, name) in enumerate(zip(input_ids[0].tolist(), names)):
        kind = "start" if position == 0 else "word" if position <= used else "end" if position == used + 1 else "pad"
        tokens.append(TokenInfo(position, name, token_id, kind, float(inputs[position].norm()),
                                float(hidden[position].norm()), word_of[position - 1] if kind == "word" else None))
    cut_ids = content[limit - 2:]
    for offset, (token_id, name) in enumerate(zip(cut_ids, tokenizer.convert_ids_to_tokens(cut_ids))):
        tokens.append(TokenInfo(limit + offset, name, token_id, "cut", word=word_of[limit - 2 + offset]))
    cut_text = tokenizer.decode(cut_ids).strip() if cut_ids else ""
    return TokenReport(prompt, tokens, limit, used, cut_text)


def _word_indices(pieces: list[str]) -> list[int]:
    """Word number of each BPE piece: a word ends with the piece carrying END_OF_WORD."""
    indices, word = [], 0
    for piece in pieces:
        indices.append(word)
        if piece.endswith(END_OF_WORD):
            word += 1
    return indices


class EncodingCache:
    """Conditioning (1, 77, d) and pooled (1, d) encodings per prompt, least recently used dropped first."""

    def __init__(self, model, size: int = CACHE_SIZE):
        self.model, self.size = model, size
        self._items: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()          # UI events share one cache across worker threads

    def _get(self, key, compute):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()                      # outside the lock: encoding may take a while
        with self._lock:
            self._items[key] = value
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def conditioning(self, prompt: str) -> torch.Tensor:
        """The sequence the UNet attends to, exactly as the pipeline's encode_prompt makes it: (1, 77, d)."""
        return self._get(("cond", prompt), lambda: encode_conditioning(self.model, prompt))

    def pooled(self, prompt: str) -> torch.Tensor:
        """The pooled text vector (the end token's final hidden state): (1, d)."""
        return self._get(("pooled", prompt), lambda: encode_pooled(self.model, [prompt]))

    def tokens(self, prompt: str) -> TokenReport:
        """The token report of inspect_tokens."""
        return self._get(("tokens", prompt), lambda: inspect_tokens(self.model, prompt))

    def token_inputs(self, prompt: str) -> torch.Tensor:
        """The token embeddings before the transformer (no position embeddings): (1, 77, d)."""
        return self._get(("inputs", prompt), lambda: encode_token_inputs(self.model, prompt))


@torch.no_grad()
def encode_conditioning(model, prompt: str | list[str]) -> torch.Tensor:
    """pipe.encode_prompt without guidance: (B, 77, d)."""
    with tokenizer_lock(model.tokenizer):
        embeds, _ = model.pipe.encode_prompt(prompt, model.device, 1, False)
    return embeds


@torch.no_grad()
def encode_pooled(model, prompts: list[str], batch_size: int = 64) -> torch.Tensor:
    """Pooled text vectors (B, d) with dynamic padding: CLIP's causal mask makes them equal to 77-padded ones."""
    tokenizer, encoder = model.tokenizer, model.text_encoder
    outputs = []
    for start in range(0, len(prompts), batch_size):
        batch = tokenize(tokenizer, prompts[start:start + batch_size], padding=True, truncation=True,
                          max_length=tokenizer.model_max_length, return_tensors="pt")
        out = encoder(batch["input_ids"].to(encoder.device), attention_mask=batch["attention_mask"].to(encoder.device))
        outputs.append(out.pooler_output.float().cpu())
    return torch.cat(outputs)


def token_ids(model, prompt: str | list[str]) -> torch.Tensor:
    """Token ids padded to the encoder's length, as the pipeline makes them: (B, 77)."""
    tokenizer = model.tokenizer
    return tokenize(tokenizer, prompt, padding="max_length", max_length=tokenizer.model_max_length,
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
    encode_conditioning(prompt) (tests/test_arithmetic.py checks it).
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


def encoding_cache(model) -> EncodingCache:
    """The model's shared cache (created on first use)."""
    cache = getattr(model, "_encoding_cache", None)
    if cache is None:
        cache = EncodingCache(model)
        model._encoding_cache = cache
    return cache
