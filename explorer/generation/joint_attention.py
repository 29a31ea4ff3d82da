"""Joint-attention maps on the flow-matching transformers (SD3 / SD3.5, FLUX.1): which word the image attends to
where, per token and per step, read from the image-to-text block of each block's joint attention.

A UNet has cross-attention: image queries, text keys, and DAAM reads softmax(Q K^T) directly
(explorer.generation.attention). SD3's MMDiT and FLUX's double-stream blocks have *joint* attention instead: image
and text tokens are one sequence ([image, text] in SD3's JointAttnProcessor2_0, [text, image] in FLUX's
FluxAttnProcessor, rotary position embeddings on both in FLUX), and one softmax runs over all of it. FLUX's
single-stream blocks attend over the same [text, image] sequence. The maps here are the image-query rows and the
text-key columns of that joint softmax: each image position's share of its attention that went to each text token,
normalised over *all* keys as the model normalises it. This is the block attention-map-diffusers reads
(wooyeolbaek/attention-map-diffusers, `joint_attn_call2_0` / `flux_attn_call2_0`: `attention_probs[:, :, :image,
image:]` for SD3, `[:, :, text:, :text]` for FLUX, labelled with CLIP's tokens on SD3 and T5's on FLUX), and the
"cross attention" baseline ConceptAttention compares its output-space maps with (Helbling et al., "ConceptAttention:
Diffusion Transformers Learn Highly Interpretable Features", ICML 2025, helblazer811/ConceptAttention, which reports
that maps from the attention *outputs* segment better than these raw image-to-text probabilities; those need extra
concept tokens run through every block and are not made here). As for the UNet, heads are averaged, then layers
(every joint-attention block, double- and single-stream), and a word's map over time is the mean over steps.

Cost, and the picture: nothing of the pipeline is replaced. A forward hook on each attention module reads its inputs
after the module ran (so the image is the same bits with and without capture); hooks on its projections and RMS
norms keep the query and key heads the processor just made, the rotary embedding is applied to them again as the
processor applies it (where a module was not hooked, the heads are computed again), and the block comes
from one fused attention call whose *values* are indicator columns of the text tokens that are read:
softmax(Q_img K_all^T / sqrt(d)) @ V' with V'[key, c] = 1 where key is in column c. That is exactly the block's
probabilities (summed per column group), computed by scaled_dot_product_attention without ever materialising the
(image + text)^2 matrix. Columns: each shown token up to the longest prompt's end token, one for the rest of the
shown encoder's padding, and on SD3 one for the T5 rows (77 CLIP rows then T5's are SD3's text sequence; the maps
show CLIP's tokens, whose words the UNet path labels the same way; FLUX's sequence is T5's alone).

Private internals (house style 18): the attention modules' attribute names (to_q, to_k, add_k_proj, norm_q, norm_k,
norm_added_k, heads, to_qkv/fused_projections) and the processors' token order and rotary embedding are those of
diffusers 0.42.1; tests/generation/test_joint_attention.py checks each against the pinned version (the block computed
here equals the one from the processor's own full softmax). A public `AttentionProcessor` hook that exposed the
probabilities (or the log-sum-exp) would replace the recomputation.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from explorer.generation.attention import AttentionMaps, TokenMaps, _Store, capture_attention, map_grid
from explorer.messages import say

CLIP_ROWS = 77           # SD3: the first 77 rows of the text sequence are CLIP-L and CLIP-G side by side


@dataclass(frozen=True)
class Layout:
    """Which text tokens a joint capture reads token by token, and what its other columns hold."""

    family: str              # "sd3" or "flux"
    shown: int               # rows of the shown encoder's block at the start of the text sequence (SD3 77, FLUX T5's)
    kept: int                # of those, the first `kept` each get a column; the rest of the block is one column
    other: int               # rows after the shown block (SD3: T5's), one column; 0: none (FLUX)
    encoder: str             # the shown encoder's name, for the note

    @property
    def columns(self) -> int:
        return self.kept + (self.shown > self.kept) + (self.other > 0)


class _JointStore(_Store):
    """_Store with the layout of its columns (to_maps hands it to AttentionMaps)."""

    layout: Layout | None = None
    text_len: int = 0         # FLUX: the text tokens in front of the single-stream blocks' sequence


def layout_for(model, texts: list[str] | tuple[str, ...] = ()) -> Layout:
    """The columns for these prompts: every token up to the longest one's end token, when `texts` are given;
    otherwise every row of the shown block."""
    pipe, adapter = model.pipe, model.adapter
    flux = adapter.pipeline == "FluxPipeline"
    tokenizer = adapter.t5(pipe)[0] if flux else pipe.tokenizer
    shown = int(adapter.text_length(pipe)) if flux else int(getattr(pipe, "tokenizer_max_length", CLIP_ROWS))
    other = 0 if flux else _t5_rows(model)
    kept = shown
    texts = [text for text in texts if isinstance(text, str)]
    if texts and tokenizer is not None:
        starts = 1 if tokenizer.bos_token_id is not None else 0
        with model.text_lock:
            longest = max(len(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])
                          for text in texts)
        kept = min(shown, starts + longest + 1)                     # start, the words, the end token
    return Layout("flux" if flux else "sd3", shown, kept, other,
                  say("attention.joint_t5") if flux else say("attention.joint_clip"))


def _t5_rows(model) -> int:
    """SD3: the T5 rows after CLIP's (max_sequence_length; zeros where the pipeline has no T5 encoder, none where a
    model was trained without them: the adapter's text_length says which)."""
    try:
        return int(model.adapter.text_length(model.pipe))
    except AttributeError:                  # no T5 tokenizer and an adapter that does not know the rows: diffusers'
        return 256                          # default max_sequence_length (only the label's count depends on it)


def indicator_values(layout: Layout, text_len: int, image_len: int, text_first: bool, like: torch.Tensor):
    """V' (keys, columns): 1 where a key belongs to a column (a shown token, the shown block's rest, the other
    rows), 0 for image keys; the keys in the joint sequence's order."""
    values = torch.zeros(text_len, layout.columns, dtype=like.dtype, device=like.device)
    kept = min(layout.kept, text_len)
    values[torch.arange(kept), torch.arange(kept)] = 1
    column = layout.kept
    if layout.shown > layout.kept:
        values[kept:min(layout.shown, text_len), column] = 1
        column += 1
    if layout.other > 0:
        values[min(layout.shown, text_len):, column] = 1
    image = torch.zeros(image_len, layout.columns, dtype=like.dtype, device=like.device)
    return torch.cat([values, image] if text_first else [image, values])


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, N, H * d) -> (B, H, N, d)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def _rope(x: torch.Tensor, rotary, start: int, stop: int) -> torch.Tensor:
    """FLUX's rotary embedding on positions [start, stop) of the joint sequence; x (B, H, N, d)."""
    from diffusers.models.embeddings import apply_rotary_emb
    cos, sin = rotary
    return apply_rotary_emb(x, (cos[start:stop], sin[start:stop]), sequence_dim=2)


def _projections(attn, hidden, seen: dict | None = None):
    """to_q, to_k of the hidden states: the ones the processor just computed where the projection hooks kept them
    (`seen`), else computed again (fused QKV where the module was fused)."""
    if seen and "q" in seen and "k" in seen:
        return seen["q"], seen["k"]
    if seen and "qkv" in seen:
        query, key, _ = seen["qkv"].chunk(3, dim=-1)
        return query, key
    if getattr(attn, "fused_projections", False) and hasattr(attn, "to_qkv"):
        query, key, _ = attn.to_qkv(hidden).chunk(3, dim=-1)
        return query, key
    return attn.to_q(hidden), attn.to_k(hidden)


def _added_key(attn, context, seen: dict | None = None):
    if seen and "added_k" in seen:
        return seen["added_k"]
    if seen and "added_qkv" in seen:
        return seen["added_qkv"].chunk(3, dim=-1)[1]
    if getattr(attn, "fused_projections", False) and hasattr(attn, "to_added_qkv"):
        return attn.to_added_qkv(context).chunk(3, dim=-1)[1]
    return attn.add_k_proj(context)


def _norm(module, x):
    return module(x) if module is not None else x


def _as_heads(normed: torch.Tensor, flux: bool) -> torch.Tensor:
    """A norm's output as (B, heads, N, d): FLUX's processor norms (B, N, heads, d), SD3's (B, heads, N, d)."""
    return normed.transpose(1, 2) if flux else normed


def block_probabilities(query: torch.Tensor, key: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d)) @ V' by the fused kernel, V' (keys, columns) given at most head_dim columns at a time
    and zero-padded to head_dim: torch's CPU flash kernel takes that path (a value width unlike the queries' fell back
    to the materialising one here, 4.5x slower): (B, heads, queries, columns)."""
    width = query.shape[-1]
    parts = []
    for start in range(0, values.shape[-1], width):
        chunk = values[:, start:start + width]
        padded = F.pad(chunk, (0, width - chunk.shape[-1]))
        out = F.scaled_dot_product_attention(query, key, padded.expand(*query.shape[:2], *padded.shape))
        parts.append(out[..., :chunk.shape[-1]])
    return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]


@torch.no_grad()
def image_to_text(attn, hidden, context, rotary, layout: Layout, text_first: bool,
                  text_len: int | None = None, seen: dict | None = None) -> torch.Tensor:
    """The image-to-text block of one joint attention, per column: (B, heads, image tokens, columns).

    `hidden`, `context`: the module's inputs (context None in FLUX's single-stream blocks, whose `hidden` is
    [text, image] with `text_len` text tokens); `rotary`: FLUX's (cos, sin) over the joint sequence, or None;
    `seen`: the projections' outputs of this very call (the hooks in capture_joint_attention), reused."""
    heads = attn.heads
    image_len = hidden.shape[1] - text_len if context is None else hidden.shape[1]
    text_len = text_len if context is None else context.shape[1]
    seen = seen or {}
    if "norm_q" in seen and "norm_k" in seen:                         # the normed heads the processor just made
        query, key = (_as_heads(seen[slot], text_first) for slot in ("norm_q", "norm_k"))
    else:
        query, key = _projections(attn, hidden, seen)
        query, key = _norm(attn.norm_q, _heads(query, heads)), _norm(attn.norm_k, _heads(key, heads))
    if context is None:                                               # FLUX single-stream: [text, image] in one
        query = query[:, :, text_len:]
    if context is not None:
        if "norm_added_k" in seen:
            text_key = _as_heads(seen["norm_added_k"], text_first)
        else:
            text_key = _norm(getattr(attn, "norm_added_k", None), _heads(_added_key(attn, context, seen), heads))
        key = torch.cat([text_key, key] if text_first else [key, text_key], dim=2)
    if rotary is not None:                                            # FLUX: on [text, image]
        query = _rope(query, rotary, text_len, text_len + image_len)
        key = _rope(key, rotary, 0, text_len + image_len)
    values = indicator_values(layout, text_len, image_len, text_first, query)
    return block_probabilities(query, key, values)                     # the block, summed per column


def attention_modules(model) -> list[tuple[object, bool, bool]]:
    """(module, text first, single-stream) for every joint attention of the transformer: SD3's blocks' `attn`
    (not SD3.5's image-only `attn2`), FLUX's double-stream and single-stream blocks' `attn`."""
    transformer = model.adapter.denoiser(model.pipe)
    flux = model.adapter.pipeline == "FluxPipeline"
    modules = [(block.attn, flux, False) for block in transformer.transformer_blocks]
    if flux:
        modules += [(block.attn, True, True) for block in transformer.single_transformer_blocks]
    return modules


PROJECTIONS = {"to_q": "q", "to_k": "k", "to_qkv": "qkv", "add_k_proj": "added_k", "to_added_qkv": "added_qkv",
               "norm_q": "norm_q", "norm_k": "norm_k", "norm_added_k": "norm_added_k"}     # module -> slot in `seen`


@contextmanager
def capture_joint_attention(model, height: int, width: int, texts=()) -> Iterator[_JointStore]:
    """Record the image-to-text block of every joint attention while inside (hold the model's lock); the store
    works as generation.attention's (`end_step` after every step, `to_maps` at the end). Forward hooks on each
    attention module's query and key projections keep their outputs for the module's own hook, which reads the
    block after the module ran (its output untouched)."""
    patch = model.adapter.size_multiple(model.pipe)
    store = _JointStore(map_grid(height, width, patch), (height // patch, width // patch))
    store.layout = layout_for(model, texts)
    handles = []
    try:
        for module, text_first, single in attention_modules(model):
            seen: dict = {}
            for name, slot in PROJECTIONS.items():
                projection = getattr(module, name, None)
                if isinstance(projection, torch.nn.Module):
                    handles.append(projection.register_forward_hook(_keep(seen, slot)))
            handles.append(module.register_forward_hook(_hook(store, text_first, single, seen), with_kwargs=True))
        yield store
    finally:
        for handle in handles:
            handle.remove()


def _keep(seen: dict, slot: str):
    def keep(module, args, output):
        seen[slot] = output
    return keep


def _hook(store: _JointStore, text_first: bool, single: bool, seen: dict):
    def read(module, args, kwargs, output):
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        context = kwargs.get("encoder_hidden_states", args[1] if len(args) > 1 else None)
        rotary = kwargs.get("image_rotary_emb")
        try:
            if single:
                probs = image_to_text(module, hidden, None, rotary, store.layout, True, store.text_len, seen)
            elif context is not None:
                store.text_len = context.shape[1]
                probs = image_to_text(module, hidden, context, rotary, store.layout, text_first, seen=seen)
            else:
                return None
        finally:
            seen.clear()                                              # no tensor kept past its call
        store.record(probs)
        return None                                                   # the module's output unchanged
    return read


def joint_token_maps(maps: AttentionMaps, report, half: str = "prompt") -> TokenMaps:
    """Label one row of joint-attention maps with its prompt's token report (the shown encoder's: CLIP on SD3, T5
    on FLUX; None for SD3's empty negative prompt, a start token, an end token and padding)."""
    layout: Layout = maps.layout
    row = maps.steps[:, maps.row(half)]                                       # (S, columns, h, w)
    end = report.end_position if report is not None else 1
    if end >= layout.kept:
        raise ValueError(f"the maps keep {layout.kept} tokens, the prompt's end token is at {end}")
    tokens = report.tokens[:end + 1] if report is not None else None
    labels = [t.text for t in tokens] if tokens else ["<|startoftext|>", "<|endoftext|>"]
    kinds = [t.kind for t in tokens] if tokens else ["start", "end"]
    parts = [row[:, :end + 1]]
    pads = layout.shown - (end + 1)
    if pads > 0:                                             # this prompt's padding: kept columns after its end + rest
        labels.append(f"padding ({pads} tokens)")
        kinds.append("pad")
        parts.append(row[:, end + 1:layout.kept + (layout.shown > layout.kept)].sum(axis=1, keepdims=True))
    if layout.other:
        labels.append(f"T5 ({layout.other})")
        kinds.append("pad")
        parts.append(row[:, -1:])
    words = []
    for w, (word, _) in enumerate(report.words() if report is not None else []):
        positions = [i for i, t in enumerate(tokens) if t.word == w and t.kind == "word"]
        if positions:
            seen = sum(1 for name, _ in words if name == word or name.startswith(f"{word} ("))
            words.append((word if not seen else f"{word} ({seen + 1})", positions))
    return TokenMaps(labels, kinds, np.concatenate(parts, axis=1), words, half, shown=layout.encoder)


def shown_report(report, model):
    """Of a prompt's token report (text.tokens.inspect_tokens: CLIP's, T5's in `others`), the one the maps are
    labelled with: CLIP's on SD3, T5's on FLUX; None stays None (SD3's empty negative prompt)."""
    if report is None or model.adapter.pipeline != "FluxPipeline":
        return report
    return next(r for r in report.others if r.starts == 0)


def capture_maps(model, height: int, width: int, texts=()):
    """The maps' capture for any family: cross-attention on a UNet (generation.attention), the joint attention's
    image-to-text block on SD3/FLUX (`texts`: the prompts, so that only their tokens get a column each)."""
    if model.adapter.flow:
        return capture_joint_attention(model, height, width, texts)
    return capture_attention(model, height, width)
