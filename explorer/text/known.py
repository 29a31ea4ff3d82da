"""Which words of a prompt the loaded model knows: read in pieces by its tokenizer, or never seen in training.

A CLIP tokenizer reads any text. A word missing from its byte-pair vocabulary is split into pieces
("astronaut" is one token, "Sankt" is `san` + `kt`), and Stable Diffusion's text encoder knows many
split words through their pieces, so being split is not being unknown: on SD the explorer can only
say which words arrive in pieces. A model whose training captions are known (miniworld: its family's
`training_words`, the grammar of explorer/world/scenes.py) can say more: a word outside them
reaches it as pieces it was never trained on, which carry no meaning, so its pictures follow only the
remaining words. A model with random weights (tiny-random, for tests) knows no words at all.

Views that take text show `words_note` beside their result; the bias probe and the blend comparator
refuse prompt sets that differ only in words the model never saw (`check_readable`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from explorer.errors import InputError
from explorer.messages import joined, say
from explorer.models.builtin import BUILDERS
from explorer.models.examples import examples_for
from explorer.text import emphasis, expressions, phrases, prompt_editing
from explorer.text.tokens import END_OF_WORD

SHOWN = 6                                                # words a note names before "and N more"
EDITED_STEPS = 100                   # an edited prompt's texts are read at this many steps (each `when` <= 100 seen)
AND_WEIGHT = re.compile(r":\s*[+-]?[.\d]+\s*$")          # A1111's "a cat :1.2 AND a dog": the weight, not a word
NUMBERS = {2: "known.two", 3: "known.three"}             # tokenizers per model, in words (keys)
RANDOM_NOTE = say("known.random")
KINDS = {"prompts": "known.kind.prompts", "labels": "known.kind.labels"}   # what check_readable refuses (keys)


@dataclass(frozen=True)
class WordReading:
    """What the loaded model makes of the words of one text (punctuation is not counted as words)."""

    text: str                                           # the text as given
    words: tuple[str, ...]                              # its words as the tokenizer reads them: lower case, in order
    pieces: tuple[tuple[str, tuple[str, ...]], ...]     # words read as several tokens, each with its pieces
    unknown: tuple[str, ...]                            # words outside the training vocabulary (where that is known)
    vocabulary_known: bool = False                      # the model's training words are known (miniworld)
    random_weights: bool = False                        # random weights: the model knows no words at all

    @property
    def known(self) -> tuple[str, ...]:
        """The words the model was trained on, once each (empty when its vocabulary is not known)."""
        if not self.vocabulary_known:
            return ()
        return tuple(dict.fromkeys(w for w in self.words if w not in self.unknown))


# ---------------------------------------------------------------- reading
def phrases_of(text: str) -> list[str]:
    """The plain phrases a prompt field holds: an `= expression`'s phrases, each part of an AND, no BREAK."""
    text = text if isinstance(text, str) else ""
    parts = [text]
    if phrases.is_expression(text):
        try:
            parts = expressions.parse(phrases.strip_prefix(text)).phrases
        except InputError:                     # a malformed expression is still text to read
            parts = [phrases.strip_prefix(text)]
    found = []
    for part in parts:
        for piece in emphasis.RE_AND.split(emphasis.RE_BREAK.sub(" ", part)):
            piece = " ".join(AND_WEIGHT.sub("", piece).split())
            if piece:
                found.append(piece)
    return found


def word_pieces(tokenizer, text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Each word of a plain text as a CLIP tokenizer reads it, with its pieces: [("sankt", ("san", "kt")), ...]."""
    ids = tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
    words, current = [], []
    for position, piece in enumerate(tokenizer.convert_ids_to_tokens(ids)):
        if piece.startswith("▁") and current:          # SentencePiece (T5) marks a word's first piece instead
            words.append((tokenizer.decode(current).strip(), tuple(tokenizer.decode([i]) for i in current)))
            current = []
        current.append(ids[position])
        if piece.endswith(END_OF_WORD) or position == len(ids) - 1:     # CLIP's BPE marks a word's last piece
            words.append((tokenizer.decode(current).strip(), tuple(tokenizer.decode([i]) for i in current)))
            current = []
    return [(word, pieces) for word, pieces in words if any(c.isalnum() for c in word)]


def _fragments(phrase: str) -> list[str]:
    """The text of a phrase without A1111 emphasis syntax, fragment by fragment as the model tokenizes it (every
    text an edited prompt reads during sampling, text.prompt_editing)."""
    if not emphasis.has_syntax(phrase):
        return [phrase]
    texts = dict.fromkeys(text for _, text in prompt_editing.schedule(phrase, EDITED_STEPS)) \
        if prompt_editing.is_edited(phrase) else [phrase]
    return [fragment for text in texts for fragment, _ in emphasis.parse_attention(text) if fragment.strip()]


def has_random_weights(model) -> bool:
    """Whether the model is one of the built-in tiny models with random weights (tests)."""
    return model.preset.source in BUILDERS


def read_words(model, text: str) -> WordReading:
    """The words of a text as the loaded model reads them: which arrive in pieces, which it never saw."""
    tokenizers = model.adapter.tokenizers(model.pipe)
    words, split = [], {}
    with model.text_lock:                           # the fast tokenizer's settings are shared state
        for fragment in (f for phrase in phrases_of(text) for f in _fragments(phrase)):
            for number, tokenizer in enumerate(tokenizers):       # SDXL: both tokenizers, a word split by either
                for word, pieces in word_pieces(tokenizer, fragment):
                    if number == 0:
                        words.append(word)
                    if len(pieces) > 1:
                        split.setdefault(word, pieces)
    training = model.adapter.training_words
    trained = set(training or ())
    unknown = () if training is None else tuple(dict.fromkeys(w for w in words if w not in trained))
    return WordReading(text, tuple(words), tuple(split.items()), unknown, training is not None,
                       has_random_weights(model))


# ---------------------------------------------------------------- what it means
def _texts(texts: list[str] | str) -> list[str]:
    return [texts] if isinstance(texts, str) else [t for t in (texts or []) if isinstance(t, str)]


def _written(word: str, texts: list[str]) -> str:
    """A word as the user wrote it ("CEO"), where the tokenizer lower-cased it ("ceo")."""
    pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE)
    for text in texts:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return word


def listed(items: list[str], shown: int = SHOWN) -> str:
    """'a', 'b', 'c' and 2 more."""
    text = ", ".join(items[:shown])
    return say("known.and_more", items=text, n=len(items) - shown) if len(items) > shown else text


def words_note(model, texts: list[str] | str) -> str:
    """One or two sentences on the words the model does not know and what that means ("" when it knows them all)."""
    texts = _texts(texts)
    readings = [read_words(model, t) for t in texts]
    if not readings:
        return ""
    if readings[0].random_weights:
        return RANDOM_NOTE
    unknown = list(dict.fromkeys(w for r in readings for w in r.unknown))
    split = {w: p for r in readings for w, p in r.pieces if w not in unknown}
    notes = []
    if unknown:
        known = list(dict.fromkeys(w for r in readings for w in r.known))
        meaning = say("known.follows_known", words=listed(_quoted(known, texts))) if known else \
            say("known.knows_none")
        notes.append(say("known.never_saw_one" if len(unknown) == 1 else "known.never_saw_many",
                         name=model.adapter.name, words=listed(_quoted(unknown, texts)), meaning=meaning))
    if split:
        shown = listed([f"{_written(w, texts)} ({'·'.join(p)})" for w, p in split.items()])
        notes.append(say("known.pieces_one" if len(split) == 1 else "known.pieces_many", shown=shown))
    return joined(" ", notes)


def _quoted(words: list[str], texts: list[str]) -> list[str]:
    return [f"'{_written(w, texts)}'" for w in words]


def unreadable_difference(model, texts: list[str] | str) -> tuple[str, ...]:
    """The words a prompt set differs in when the model never saw any of them (else empty): pictures that differ
    cannot be about those words. Only where the training vocabulary is known and the weights are trained."""
    readings = [read_words(model, t) for t in _texts(texts)]
    if len(readings) < 2 or not readings[0].vocabulary_known or readings[0].random_weights:
        return ()
    sets = [set(r.words) for r in readings]
    differ = set.union(*sets) - set.intersection(*sets)
    unknown = {w for r in readings for w in r.unknown}
    if not differ or not differ <= unknown:
        return ()
    return tuple(w for w in dict.fromkeys(w for r in readings for w in r.words) if w in differ)


def readable(model, texts: list[str] | str) -> bool:
    """Whether the model can read what tells a prompt set apart (always True where its vocabulary is not known)."""
    return not unreadable_difference(model, texts)


def check_readable(model, texts: list[str] | str, field: str = "prompts", kind: str = "prompts") -> None:
    """Refuse a prompt set that differs only in words the model never saw (miniworld: "a photo of a CEO" vs
    "a photo of a nurse"): any difference between its pictures would not be about those words.

    kind: "prompts", or "labels" for the attribute labels its CLIP would classify by."""
    differ = unreadable_difference(model, texts)
    if not differ:
        return
    texts, name = _texts(texts), model.adapter.name
    meaning = say("known.labels_alike") if kind == "labels" else say("known.pictures_alike")
    example = " | ".join(repr(p) for p in examples_for(model).probe)
    kind = say(KINDS[kind]) if kind in KINDS else kind
    raise InputError(field, say("known.differ_in", kind=kind, name=name, words=", ".join(model.adapter.training_words)),
                     texts, hint=say("known.differ_hint", words=listed(_quoted(list(differ), texts)), name=name,
                                     meaning=meaning, kind=kind, example=example))


def about_tokenizer(model) -> str:
    """One sentence on the loaded model's tokenizer(s), with their sizes, for the explanations."""
    tokenizers = model.adapter.tokenizers(model.pipe)
    training = model.adapter.training_words
    random = say("known.random_entries") if has_random_weights(model) else ""
    if training is not None:
        return say("known.trained_tokenizer", name=model.adapter.name, n=len(tokenizers[0]), k=len(training),
                   random=random)
    clip = all("CLIP" in type(t).__name__ for t in tokenizers)
    if len(tokenizers) > 1:
        sizes = say("known.size", n=len(tokenizers[0]))
        for tokenizer in tokenizers[1:]:
            sizes = say("known.and", a=sizes, b=say("known.size", n=len(tokenizer)))
        count = say(NUMBERS[len(tokenizers)]) if len(tokenizers) in NUMBERS else str(len(tokenizers))
        return say("known.clip_tokenizers" if clip else "known.tokenizers", count=count, sizes=sizes, random=random)
    return say("known.clip_tokenizer" if clip else "known.tokenizer", n=len(tokenizers[0]), random=random)
