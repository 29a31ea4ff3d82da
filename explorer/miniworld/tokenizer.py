"""A CLIP byte-pair tokenizer whose vocabulary is the miniature world's grammar.

The layout follows OpenAI CLIP's `bpe_simple_vocab_16e6` tables: the 256 byte-level characters,
the same 256 with the end-of-word mark `</w>`, then one entry per merge, then `<|startoftext|>`
and `<|endoftext|>` (the highest id, as in CLIP). Merges are chosen so that every grammar word
is exactly one token (`circle</w>`); any other text still tokenizes, byte by byte.
"""
from __future__ import annotations

import json
from pathlib import Path

from explorer.world.scenes import vocabulary

END_OF_WORD = "</w>"
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_LENGTH = 77                      # the explorer (and SD) expect 77 token positions


def bytes_to_unicode() -> dict[int, str]:
    """Byte -> printable character, as in GPT-2/CLIP (openai/CLIP simple_tokenizer.py)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


def _symbols(word: str) -> list[str]:
    """A word as BPE starts it: one symbol per byte, the last one marked end-of-word."""
    table = bytes_to_unicode()
    chars = [table[b] for b in word.encode("utf-8")]
    return chars[:-1] + [chars[-1] + END_OF_WORD]


def apply_bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """Byte-pair encoding of one word: merge the lowest-ranked adjacent pair until none applies."""
    parts = _symbols(word)
    while len(parts) > 1:
        pairs = [(ranks.get((a, b)), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        rank, i = min(((r, i) for r, i in pairs if r is not None), default=(None, None))
        if rank is None:
            break
        pair = (parts[i], parts[i + 1])
        merged, j = [], 0
        while j < len(parts):                                  # merge every occurrence, left to right
            if j < len(parts) - 1 and (parts[j], parts[j + 1]) == pair:
                merged.append(parts[j] + parts[j + 1])
                j += 2
            else:
                merged.append(parts[j])
                j += 1
        parts = merged
    return parts


def build_tables(words: list[str] | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """vocab (token -> id) and merges such that each word is a single token.

    Merges are appended at the end (highest rank) whenever a word is still split, so the
    encoding of every word handled before is unchanged.
    """
    words = sorted(set(words or vocabulary()))
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        parts = apply_bpe(word, ranks)
        while len(parts) > 1:
            pair = (parts[0], parts[1])
            ranks[pair] = len(merges)
            merges.append(pair)
            parts = apply_bpe(word, ranks)
    base = list(bytes_to_unicode().values())
    tokens = base + [c + END_OF_WORD for c in base]
    seen = set(tokens)
    for a, b in merges:
        if a + b not in seen:
            tokens.append(a + b)
            seen.add(a + b)
    tokens += [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}, merges


def write_tables(folder: str | Path, words: list[str] | None = None) -> tuple[Path, Path]:
    """Write vocab.json and merges.txt (CLIP's formats) into a folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_tables(words)
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False))
    merges_file.write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    return vocab_file, merges_file


def build_tokenizer(words: list[str] | None = None):
    """A transformers CLIPTokenizer over the grammar's vocabulary (77 positions, padded with EOS)."""
    from transformers import CLIPTokenizer

    vocab, merges = build_tables(words)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_LENGTH,
                         bos_token=BOS, eos_token=EOS, pad_token=EOS, unk_token=EOS)


def save_tokenizer(tokenizer, folder: str | Path, words: list[str] | None = None) -> None:
    """save_pretrained plus the plain vocab.json / merges.txt tables."""
    tokenizer.save_pretrained(str(folder))
    write_tables(folder, words)
