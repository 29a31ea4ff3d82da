"""Concept vocabularies: phrases with a category each, to be encoded into a concept index.

A vocabulary is a list of phrases with a category each: the curated lists in assets/concepts/
(format in assets/concepts/README.md), a model folder's own concepts.txt (miniworld), the loaded
model's whole-word tokens, or a list a user adds.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.messages import say
from explorer.models.presets import CONCEPTS_DIR

BUILTIN, TOKENIZER = "concepts", "tokenizer"       # names of the two vocabularies every model has
END_OF_WORD = "</w>"                               # CLIP's BPE marks the last piece of a word
WORD_TOKEN = re.compile(r"[a-z]+")                 # whole-word tokens kept for the tokenizer vocabulary
# the categories of the shipped lists (assets/concepts/*.txt, miniworld's concepts.txt), named in each language by
# key (concepts.category.<name>); a list of the user's own keeps its categories as written
CATEGORIES = ("artists", "materials", "media", "moods", "movements", "objects", "places", "professions", "concepts",
              "words", "phrase", "object", "colour", "shape", "size", "position")


def normalise_entry(text: str) -> str:
    """The form two entries are compared in: lower case, runs of whitespace as one space."""
    return " ".join(text.lower().split())


def category_label(category: str) -> str:
    """A category as a table or a legend shows it: keyed where it is a shipped list's (its English unchanged)."""
    return say(f"concepts.category.{category}") if category in CATEGORIES else category


# ---------------------------------------------------------------- vocabularies

@dataclass
class Vocabulary:
    """Entries (phrases) with one category each; `hash` identifies the content, not the name."""

    name: str
    entries: list[str]
    categories: list[str]
    cache: bool = True          # write its index to the disk cache (a user's upload is kept in memory only)

    def __post_init__(self):
        if len(self.entries) != len(self.categories):
            raise InputError("vocabulary", say("concepts.allowed.category_per_entry"),
                             say("concepts.received.entries_categories", n=len(self.entries), m=len(self.categories)))

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def hash(self) -> str:
        """sha256 of the entries and categories (the cache key: renaming a list keeps its index)."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            payload = json.dumps([self.entries, self.categories], ensure_ascii=False, separators=(",", ":"))
            cached = self.__dict__["_hash"] = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        return cached

    @property
    def category_names(self) -> list[str]:
        """Categories in order of first appearance."""
        return list(dict.fromkeys(self.categories))

    def check(self, limit: int | None = None, field_name: str = "vocabulary") -> "Vocabulary":
        """Refuse an empty list, duplicate entries, or more entries than `limit`."""
        if not self.entries:
            raise InputError(field_name, say("concepts.allowed.some_entry"),
                             say("concepts.received.named_entries", name=repr(self.name), n=0))
        if limit is not None and len(self.entries) > limit:
            raise InputError(field_name, say("concepts.allowed.max_entries", n=limit),
                             say("concepts.received.named_entries", name=repr(self.name), n=len(self.entries)))
        seen: dict[str, str] = {}
        duplicates = []
        for entry in self.entries:
            key = normalise_entry(entry)
            if not key:
                raise InputError(field_name, say("concepts.allowed.non_blank"), repr(entry))
            if key in seen:
                duplicates.append(entry)
            seen.setdefault(key, entry)
        if duplicates:
            shown = ", ".join(repr(d) for d in duplicates[:5]) + (" ..." if len(duplicates) > 5 else "")
            raise InputError(field_name, say("concepts.allowed.unique"),
                             say("concepts.received.duplicates", n=len(duplicates), name=repr(self.name), shown=shown),
                             hint=say("concepts.hint.remove_repeated"))
        return self


def parse_vocabulary(text: str, name: str, default_category: str | None = None) -> Vocabulary:
    """Parse the assets/concepts format: `#` comment lines, blank lines, `[category]` switches."""
    category = default_category or name
    entries, categories = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and stripped.endswith("]") and len(stripped) > 2:
            category = stripped[1:-1].strip()
            continue
        entries.append(stripped)
        categories.append(category)
    return Vocabulary(name, entries, categories)


def load_vocabulary(path_or_file, name: str | None = None, limit: int | None = None) -> Vocabulary:
    """A vocabulary from a text file (path or open file) in the assets/concepts format, checked."""
    if hasattr(path_or_file, "read"):
        raw = path_or_file.read()
        stem = Path(getattr(path_or_file, "name", "uploaded") or "uploaded").stem
    else:
        path = Path(str(path_or_file)).expanduser()
        if not path.is_file():
            raise InputError("vocabulary", say("concepts.allowed.text_file"), str(path_or_file))
        raw = path.read_bytes()
        stem = path.stem
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise InputError("vocabulary", say("concepts.allowed.utf8"),
                             say("concepts.received.undecodable", n=error.start)) from None
    limit = ExplorerConfig().max_vocabulary if limit is None else limit
    return parse_vocabulary(raw, name or stem, default_category=stem).check(limit)


def load_upload(path, name: str | None, config: ExplorerConfig) -> Vocabulary:
    """A user's uploaded list, within the upload limits (bytes, entries, entry length); never cached on disk."""
    path = Path(str(path))
    if not path.is_file():
        raise InputError("vocabulary file", say("concepts.allowed.upload_txt"), path.name)
    size = path.stat().st_size
    if size > config.max_upload_bytes:
        raise InputError("vocabulary file", say("concepts.allowed.max_bytes", n=config.max_upload_bytes),
                         say("concepts.received.bytes", n=size))
    vocabulary = load_vocabulary(path, name=name or path.stem, limit=config.max_upload_entries)
    long = [e for e in vocabulary.entries if len(e) > config.max_entry_chars]
    if long:
        raise InputError("vocabulary file", say("concepts.allowed.entry_chars", n=config.max_entry_chars),
                         say("concepts.received.longer_one" if len(long) == 1 else "concepts.received.longer_many",
                             n=len(long), example=repr(long[0][:40])))
    vocabulary.cache = False
    return vocabulary


def builtin_vocabulary(model) -> Vocabulary:
    """The curated list: the model folder's own concepts.txt (miniworld ships one), else assets/concepts/*.txt."""
    own = model.folder / "concepts.txt" if model.folder is not None else None
    if own is not None and own.is_file():
        return load_vocabulary(own, name=BUILTIN)
    entries, categories = [], []
    for path in sorted(CONCEPTS_DIR.glob("*.txt")):
        part = parse_vocabulary(path.read_text(encoding="utf-8"), path.stem)
        entries += part.entries
        categories += part.categories
    return Vocabulary(BUILTIN, entries, categories).check()


def tokenizer_vocabulary(model) -> Vocabulary:
    """The tokenizer's whole-word tokens (`word</w>`, letters only): ~33k for CLIP."""
    words = sorted({token[:-len(END_OF_WORD)] for token in model.tokenizer.get_vocab()
                    if token.endswith(END_OF_WORD) and WORD_TOKEN.fullmatch(token[:-len(END_OF_WORD)])})
    return Vocabulary(TOKENIZER, words, ["tokens"] * len(words)).check()


class Shelf:
    """The vocabularies one owner added: a user's session, or the operator's lists shared with every user.

    A shelf is bounded (lists and entries) and private to its owner: names on one shelf are not
    visible from another. A session's shelf sees the shared shelf's lists too, read-only.
    """

    def __init__(self, max_lists: int = 4, shared: "Shelf | None" = None):
        self.max_lists, self.shared = max_lists, shared
        self._lists: dict[str, Vocabulary] = {}
        self._lock = threading.Lock()

    def add(self, vocabulary: Vocabulary, limit: int | None = None) -> str:
        """Put a checked list on the shelf under its name (replacing this owner's list of that name)."""
        limit = ExplorerConfig().max_vocabulary if limit is None else limit
        vocabulary.check(limit)
        name = check_list_name(vocabulary.name, self.shared.names() if self.shared else ())
        with self._lock:
            if name not in self._lists and len(self._lists) >= self.max_lists:
                raise InputError("vocabulary", say("concepts.allowed.max_lists", n=self.max_lists),
                                 say("concepts.received.list_number", n=len(self._lists) + 1))
            self._lists[name] = vocabulary
        return name

    def names(self) -> list[str]:
        """Names to pick a vocabulary by: "concepts", "tokenizer", the shared lists, then this owner's."""
        shared = self.shared.names()[2:] if self.shared else []
        with self._lock:
            return [BUILTIN, TOKENIZER, *shared, *self._lists]

    def get(self, name: str) -> Vocabulary | None:
        with self._lock:
            found = self._lists.get(name)
        return found if found is not None or self.shared is None else self.shared.get(name)


LIST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,47}")     # a list name a person can type and read back


def check_list_name(name, taken=()) -> str:
    """A list name: 1-48 letters, digits, spaces, '_', '.' or '-', not a built-in or shared name."""
    if not isinstance(name, str) or not LIST_NAME.fullmatch(name.strip()):
        raise InputError("vocabulary name", say("concepts.allowed.list_name"),
                         name if not isinstance(name, str) or len(name) < 60 else name[:60] + "…")
    name = name.strip()
    if name in (BUILTIN, TOKENIZER) or name in taken:
        raise InputError("vocabulary name", say("concepts.allowed.other_name",
                                                names=", ".join([BUILTIN, TOKENIZER, *taken])), name)
    return name


def available_vocabularies(shelf: Shelf | None = None) -> list[str]:
    """Names to pick a vocabulary by: "concepts", "tokenizer", then the shelf's lists."""
    return shelf.names() if shelf is not None else [BUILTIN, TOKENIZER]


def resolve_vocabulary(model, vocabulary: str | Vocabulary, shelf: Shelf | None = None) -> Vocabulary:
    """A Vocabulary from a name ("concepts", "tokenizer" or one on the shelf), or the Vocabulary itself."""
    if isinstance(vocabulary, Vocabulary):
        return vocabulary
    if vocabulary == BUILTIN:
        return model.vocabularies.get(BUILTIN, lambda: builtin_vocabulary(model))
    if vocabulary == TOKENIZER:
        return model.vocabularies.get(TOKENIZER, lambda: tokenizer_vocabulary(model))
    found = shelf.get(vocabulary) if shelf is not None and isinstance(vocabulary, str) else None
    if found is None:
        raise InputError("vocabulary", say("concepts.allowed.one_of", choices=", ".join(available_vocabularies(shelf))),
                         vocabulary)
    return found
