"""What the text encoder sees: word pieces, ids, start/end/padding tokens and the 77-token limit.

Flow-matching families (SD3, FLUX) also read the prompt with T5: SentencePiece pieces ("▁" starts a word), no
start token, an end token `</s>`, padding `<pad>` up to its own limit (256 or 512 tokens; the CLIP encoders stay
at 77 and are cut there by the pipeline). Its report stands beside CLIP's (`TokenReport.others`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from explorer.errors import InputError
from explorer.messages import joined, say
from explorer.text import emphasis, prompt_editing

END_OF_WORD = "</w>"      # CLIP's BPE marks the last piece of each word with it
WORD_START = "▁"          # SentencePiece (T5) marks the first piece of each word with it
ENCODER_NAMES = ("text_encoder", "text_encoder_2", "text_encoder_3")     # diffusers' names, in the pipeline's order


@dataclass
class TokenInfo:
    position: int         # index in the 77-token sequence (or beyond it, when cut)
    text: str             # the word piece as written, "</w>" marks the end of a word
    id: int               # vocabulary id
    kind: str             # "start", "word", "end", "pad" or "cut"
    input_norm: float | None = None    # |token embedding| before the transformer
    output_norm: float | None = None   # |hidden state| the UNet attends to
    word: int | None = None            # index of the word this piece belongs to (content tokens only)
    weight: float = 1.0                # A1111 emphasis: (word:1.3) -> 1.3 (text.emphasis)


@dataclass
class TokenReport:
    prompt: str
    tokens: list[TokenInfo]
    limit: int            # the encoder's sequence length (77 for CLIP)
    used: int             # content tokens that fit (at most limit - 2)
    cut_text: str         # the part of the prompt the limit cuts off ("" when all fits)
    encoder: str = "text_encoder"          # which encoder's norms these are
    second: "TokenReport | None" = None    # families with two encoders (SDXL): the second tokenizer's view
    note: str = ""                         # what in the prompt's syntax is not read (text.emphasis)
    others: list["TokenReport"] = field(default_factory=list)  # encoders with pieces of their own (T5 beside CLIP)
    starts: int = 1                        # start tokens before the content (CLIP 1, T5 0)
    reads: str = "rows"    # how the denoiser reads this encoder: "rows" (every row, padding too: the pipelines pass no
                           # attention mask) or "pooled" (only the end token's pooled vector: CLIP in FLUX)

    def rows(self) -> list[list]:
        """The token table's rows; the kind as a person reads it (keyed: tokens.kind.<kind>, its English unchanged)."""
        return [[t.position, t.text, t.id, say(f"tokens.kind.{t.kind}"),
                 None if t.input_norm is None else round(t.input_norm, 3),
                 None if t.output_norm is None else round(t.output_norm, 3), round(t.weight, 4)] for t in self.tokens]

    def words(self) -> list[tuple[str, list[str]]]:
        """Each word of the prompt as the tokenizer read it, with its pieces: [("sankt", ["san", "kt</w>"]), ...]."""
        grouped: dict[int, list[str]] = {}
        for t in self.tokens:
            if t.word is not None:
                grouped.setdefault(t.word, []).append(t.text)
        return [("".join(pieces).replace(END_OF_WORD, "").replace(WORD_START, ""), pieces)
                for _, pieces in sorted(grouped.items())]

    def split_words(self) -> list[tuple[str, list[str]]]:
        """Words the vocabulary does not hold whole: broken into several pieces (often non-English words)."""
        return [(word, pieces) for word, pieces in self.words() if len(pieces) > 1]

    @property
    def end_position(self) -> int:
        """Position of the end token, whose final hidden state is the pooled vector."""
        return self.used + self.starts

    def summary(self) -> str:
        words = sum(1 for t in self.tokens if t.kind in ("word", "cut"))
        text = say("tokens.summary", words=words, used=self.used, room=self.limit - self.starts - 1)
        split = self.split_words()
        if split:
            shown = "; ".join(f"'{w}' → {' + '.join('`' + _bare(p) + '`' for p in pieces)}"
                              for w, pieces in split[:8])
            text += " " + say("tokens.split", n=len(split), shown=shown + (" …" if len(split) > 8 else ""))
        if self.cut_text:
            text += " " + say("tokens.cut", n=self.limit, text=self.cut_text)
        weighted = [(t.text.replace(END_OF_WORD, ""), t.weight) for t in self.tokens if t.weight != 1.0]
        if weighted:
            shown = ", ".join(f"{text} x{weight:.3g}" for text, weight in weighted[:12])
            text += " " + say("tokens.emphasis", shown=shown + (" …" if len(weighted) > 12 else ""))
        if self.note:
            text += " " + self.note
        if self.second is not None:
            pads = [say("tokens.pad_for", pad=pad.text, encoder=r.encoder) for r in (self, self.second)
                    for pad in [t for t in r.tokens if t.kind == "pad"][:1]]
            text += " " + say("tokens.two_encoders", first=self.encoder, second=self.second.encoder,
                              pads=joined(", ", pads) or say("tokens.no_padding"))
        for other in self.others:             # T5: its own pieces and limit
            pieces = " ".join("`" + t.text + "`" for t in other.tokens if t.kind == "word")
            text += " " + say("tokens.t5_view", encoder=other.encoder, n=other.limit, used=other.used,
                              room=other.limit - other.starts - 1, pieces=pieces) + " " + other.summary()
        if self.others:                       # the flow families: who reads which rows, and that nothing is masked
            pad = next((t.text for r in self.others for t in r.tokens if t.kind == "pad"), "")
            text += " " + say("tokens.flow_masks", pad=pad, n=self.others[0].limit, clip=self.limit)
            if self.reads == "pooled":
                text += " " + say("tokens.flow_pooled_only", encoder=self.encoder)
        return text

    def read_label(self, token: TokenInfo) -> str:
        """Whether the denoiser reads this token's row (keyed: tokens.read.<rows|pooled|no>)."""
        if token.kind == "cut":
            return say("tokens.read.no")
        if self.reads == "pooled":
            return say("tokens.read.pooled") if token.kind == "end" else say("tokens.read.no")
        return say("tokens.read.rows")


def encoder_rows(report: TokenReport, show_padding: bool = False) -> list[list]:
    """One encoder's token table beside another's: position, token, id, kind, word, |input|, |output|, read by the
    denoiser (padding left out unless `show_padding`). The flow families show T5's rows so beside CLIP's."""
    words, rows = report.words(), []
    for row, token in zip(report.rows(), report.tokens):
        if not show_padding and token.kind == "pad":
            continue
        word = "" if token.word is None else words[token.word][0]
        rows.append(row[:4] + [word] + row[4:6] + [report.read_label(token)])
    return rows


def tokenize(model, *args, **kwargs):
    """model.tokenizer(...) under the model's text lock: the fast tokenizer's padding settings are shared state.

    transformers 5's CLIPTokenizer is the Rust fast tokenizer, whose padding and truncation settings
    are state shared between threads: two threads tokenizing at once corrupt each other's output.
    """
    with model.text_lock:
        return model.tokenizer(*args, **kwargs)


def specials(tokenizer) -> int:
    """The special tokens the tokenizer adds around a prompt (CLIP: start and end, 2; T5: end, 1)."""
    return 2 if tokenizer.bos_token_id is not None else 1


def checked_encoders(model) -> list[tuple[str, object]]:
    """(name, tokenizer) of the encoders whose limit a prompt must fit: every one, but in the T5 families only T5
    (CLIP gives the pooled vector there and the pipeline cuts it at 77, as every SD3/FLUX user's long prompt is)."""
    tokenizers = model.adapter.tokenizers(model.pipe)
    names = ENCODER_NAMES if len(tokenizers) > 1 else (say("tokens.the_text_encoder"),)
    pairs = list(zip(names, tokenizers))
    t5 = model.adapter.t5(model.pipe)[0] if model.adapter.flow else None
    if t5 is not None:                         # an SD3 folder without T5 (miniworld-dit): CLIP's limit holds
        pairs = [(name, tokenizer) for name, tokenizer in pairs if tokenizer is t5]
    return pairs


def check_prompt_length(model, text: str, field: str = "prompt") -> None:
    """Refuse a prompt longer than any of the model's text encoders reads, naming the words that would be cut."""
    if not text:
        return
    for name, tokenizer in checked_encoders(model):
        with model.text_lock:
            ids = tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
        room = tokenizer.model_max_length - specials(tokenizer)
        if len(ids) > room:
            cut = tokenizer.decode(ids[room:]).strip()
            n = tokenizer.model_max_length
            allowed = say("tokens.at_most", room=room, name=name, n=n) if specials(tokenizer) == 2 \
                else say("tokens.at_most_t5", room=room, name=name, n=n)                      # T5: an end token only
            raise InputError(field, allowed,
                             say("tokens.count", n=len(ids)), hint=say("tokens.cut_hint", cut=cut))


def inspect_tokens(model, prompt: str) -> TokenReport:
    """Tokens, ids, start/end/padding, where the limit cuts, and per-token vector norms (every encoder's)."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt", say("checks.non_empty_prompt"), prompt)
    pipe = model.pipe
    pairs = list(zip(model.adapter.tokenizers(pipe), model.adapter.text_encoders(pipe)))
    names = ENCODER_NAMES[:len(pairs)] if len(pairs) > 1 else ("text_encoder",)
    reports = [_inspect_one(model, tokenizer, encoder, name, prompt)
               for name, (tokenizer, encoder) in zip(names, pairs)]
    clip = [r for r in reports if r.starts == 1]              # same pieces at the same positions: side by side
    for first, second in zip(clip, clip[1:]):
        first.second = second
    clip[0].others = [r for r in reports if r.starts == 0]    # T5: pieces and a limit of its own
    if clip[0].others and not model.adapter.clip_states:      # FLUX: CLIP gives only its pooled vector
        for report in clip:
            report.reads = "pooled"
    return clip[0]


def _inspect_one(model, tokenizer, encoder, encoder_name: str, prompt: str) -> TokenReport:
    limit = tokenizer.model_max_length
    note, weights = "", None
    try:
        emphasis.check_supported(prompt)
    except InputError as error:                 # shown as text, and said
        note = say("tokens.not_syntax", error=error.args[0])
    if not note and prompt_editing.is_edited(prompt):      # a text per step: shown as written, and said
        note = say("tokens.edited")
    with model.text_lock:
        weighed = model.adapter.clip_states or tokenizer.bos_token_id is None    # FLUX reads no CLIP rows: none to weigh
        if has_syntax := (not note and weighed and emphasis.has_syntax(prompt)):
            content, content_weights = emphasis.weighted_ids(tokenizer, prompt)
        else:
            content = tokenizer(prompt, add_special_tokens=False, truncation=False)["input_ids"]
    starts = specials(tokenizer) - 1                                     # CLIP: a start token; T5: none
    room = limit - starts - 1
    used = min(len(content), room)
    start = [tokenizer.bos_token_id] * starts
    ids = [*start, *content[:used], tokenizer.eos_token_id] + [tokenizer.pad_token_id] * (room - used)
    if has_syntax:
        weights = torch.tensor([[1.0] * starts + [*content_weights[:used], 1.0] + [1.0] * (room - used)])
    input_ids = torch.tensor([ids], device=encoder.device)              # (1, 77) as the pipeline pads
    penultimate = model.adapter.penultimate and starts == 1             # T5's last state is what the model reads
    with torch.no_grad():
        inputs = encoder.get_input_embeddings()(input_ids)[0]           # (77, d)
        out = encoder(input_ids, output_hidden_states=penultimate)
        hidden = (out.hidden_states[-2] if penultimate else out[0])     # (1, 77, d) what the UNet reads
        hidden = (emphasis.apply(hidden, weights.to(hidden.device)) if weights is not None else hidden)[0]
    names = tokenizer.convert_ids_to_tokens(input_ids[0].tolist())
    word_of = _word_indices(tokenizer.convert_ids_to_tokens(content))     # one per content token
    tokens = []
    for position, (token_id, name) in enumerate(zip(input_ids[0].tolist(), names)):
        kind = "start" if position < starts else "word" if position < starts + used \
            else "end" if position == starts + used else "pad"
        tokens.append(TokenInfo(position, name, token_id, kind, float(inputs[position].norm()),
                                float(hidden[position].norm()), word_of[position - starts] if kind == "word" else None,
                                float(weights[0, position]) if weights is not None else 1.0))
    cut_ids = content[room:]
    for offset, (token_id, name) in enumerate(zip(cut_ids, tokenizer.convert_ids_to_tokens(cut_ids))):
        tokens.append(TokenInfo(limit + offset, name, token_id, "cut", word=word_of[room + offset]))
    cut_text = tokenizer.decode(cut_ids).strip() if cut_ids else ""
    return TokenReport(prompt, tokens, limit, used, cut_text, encoder=encoder_name, note=note, starts=starts)


def _bare(piece: str) -> str:
    """A piece without its word mark (CLIP's end-of-word, SentencePiece's word start)."""
    return piece.replace(END_OF_WORD, "").replace(WORD_START, "")


def _word_indices(pieces: list[str]) -> list[int]:
    """Word number of each piece: a CLIP word ends with the piece carrying END_OF_WORD, a SentencePiece word
    starts with the piece carrying WORD_START."""
    indices, word = [], 0
    sentencepiece = any(piece.startswith(WORD_START) for piece in pieces)
    for i, piece in enumerate(pieces):
        if sentencepiece and piece.startswith(WORD_START) and i > 0:
            word += 1
        indices.append(word)
        if not sentencepiece and piece.endswith(END_OF_WORD):
            word += 1
    return indices
