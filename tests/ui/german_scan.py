"""English left on a German page: `english_leftovers(page)` scans what a German session sees (headless Chromium, a
playwright Page) for English words and English number formats, and returns each find with its context. The lesson's
browser test calls it after every chapter; tests/ui/test_german_page.py after each tab's main action.

What is scanned: the text a person sees (visible text nodes, plotly's titles, axis titles, legend and annotations
included). What is left out, and why (the whitelist, short on purpose):
- what the user typed or picked, and the model's own words: text fields, code blocks (recipes, file names, an
  expression's caret), anything in quotes ('a red circle', "blue"), the columns of a table that show concepts,
  tokens and the words of a prompt (Konzept, Token, Wort: data the user copies into prompts), the points' labels of
  a plot and its tick labels (concepts, attribute values: the same data), a result's nearest concepts ("≈ a yellow
  triangle, top"), components marked `data-words` (choices that are concepts or a prompt's words), and `allowed`
  (e.g. the chapter's prompts, and their words where they stand alone); examples to click (the inputs they fill).
  Prompts stay English on purpose: the model reads English best (README, "German and English").
- notation and names: tokens (<|startoftext|>, a</w>), x_t / x0, sqrt(ᾱ), model and encoder names with their
  versions (SD 1.5, SDXL, CLIP ViT-L/14), the preview decoders' names (approx, taesd: recipe values).
- German glossary words that are English too are simply not in the word list (Prompt, Seed, Token, Padding,
  Conditioning, Embedding, Guidance, Start, Position, Phrase, Text, Signal, live, ...).

English numbers: 20,000 (a comma between thousands) and 0.50 / 24.0% (a decimal point). One digit before three
(7.827, 7,827) is ambiguous between the languages and not reported.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

# English words that are not German words, as the library writes them into status lines, choices, tables and plots
ENGLISH_WORDS = frozenset("""
the and of to with from for is are be been by at as it its this that these those which what when where how
each every other others none no not on one two three seven eight than then into over under about between along
only all any more most less just there their they you your we our can could would should may must
image images picture pictures step steps processing queue tokens word words object objects colour colours color
colors shape shapes size pooled ease done saved ready nearest concept concepts cosine similarity noise search
results result archive training expression generate generated generating denoising frame frames panel panels
left right middle top bottom small large red green blue yellow purple circle circles square squares triangle
triangles crosses path ingredient nearly flat encoded entries loaded found made holds held gap
model models walk walks ranked rank axis picked pick map fitted warmed compiling instant full
""".split())
# notation, names and tokens, removed before the words are read
NOTATION = re.compile(
    r"<\|\w+\|>|\S+</w>|\bx_?t\b|\bx_?0\b|sqrt\([^)]*\)|ᾱ\S*|"
    r"\b(?:SD|SDXL|SD-Turbo|Stable Diffusion|CLIP|OpenCLIP|ViT-[A-Za-z]+(?:/\d+)?|UMAP|PCA|TAESD|VAE|UNet)"
    r"(?:[ -]?\d+(?:\.\d+)*)?\b|\b(?:approx|taesd|slerp|lerp)\b")
QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|„[^“\n]*“|‘[^’\n]*’|“[^”\n]*”|`[^`\n]*`")
NEAREST = re.compile(r"≈[^·\n]*")                # "≈ a yellow triangle, top": a result's nearest concepts (data)
GERMAN_TOO = {"Tokens", "Training"}              # German nouns too ("des Tokens", "das Training"): capitalised
WORD = re.compile(r"[A-Za-zÄÖÜäöüß]+")
# 20,000 and 0.50 / 24.0% / 0.1s. Ambiguous, so not reported: 7,827 and 7.827 (one digit, then three: German 7.827
# is seven thousand, 7,827 a decimal), 20.000 (German thousands), 0,914 (a German decimal), "[0, 1]" (a space)
ENGLISH_NUMBER = re.compile(r"(?<![\w.,])(?:[1-9]\d{1,2}(?:,\d{3})+|\d(?:,\d{3}){2,}|\d+\.\d+)(?![\d.,]\d|\d)")
GERMAN_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+")
# table columns whose cells are data (concepts, tokens, a prompt's words), by their German header
DATA_COLUMNS = ("Konzept", "Token", "Wort")

VISIBLE_TEXT = """(dataColumns) => {
  const skip = "textarea, input, select, code, pre, script, style, .page-lang, .textpoint, .xtick, .ytick, "
             + ".hoverlayer, .api-twin, .data-words, .gallery-item";
  const visible = (el) => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})
                          && el.getClientRects().length > 0;
  const dataCell = (el) => {                      // gradio's table: headers in one <table>, rows in another
    const cell = el.closest("td, .body-cell");      // a long table's rows are virtual: div.body-cell, not td
    if (!cell) return false;
    const index = cell.tagName === "TD" ? cell.cellIndex
                : Array.from(cell.parentElement.children).filter((c) => c.matches(".body-cell")).indexOf(cell);
    const grid = cell.closest(".table-wrap, [role=grid]") || cell.closest("table");
    const header = grid && grid.querySelectorAll("th")[index];
    const name = header ? (header.getAttribute("title") || header.innerText).trim() : "";
    return dataColumns.some((column) => name.startsWith(column));
  };
  const texts = [];
  const nodes = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (nodes.nextNode()) {
    const node = nodes.currentNode, el = node.parentElement;
    const text = node.nodeValue.trim();
    if (!text || !el || el.closest(skip) || !visible(el) || dataCell(el)) continue;
    texts.push(text);
  }
  return texts;
}"""


def leftovers_in(texts: Iterable[str], allowed: Iterable[str] = (), data: Iterable[str] = ()) -> list[str]:
    """The English words and English numbers in `texts` (a German page's visible texts), each as
    "word: context"; `allowed`: strings that may stand as they are (e.g. the prompts on the page), and their words
    wherever they stand alone (a prompt's words listed in a note, or as the attention view's choices); `data`: the
    model's own phrases (its concept list): a phrase of several words is skipped wherever it stands ("Pfad: a red
    circle -> a blue square"), a single word only where a text is that word whole (a legend entry, a caption), so
    single words still count inside sentences ("Formen in green" is still found)."""
    data = {d.strip() for d in data if d and d.strip()}
    data_phrases = sorted((d for d in data if " " in d), key=len, reverse=True)   # removed wherever they stand
    texts = [text for text in texts if text.strip() not in data]
    for phrase in data_phrases:
        texts = [text.replace(phrase, " ") for text in texts]
    allowed = {a.strip() for a in allowed if a and a.strip()}
    phrases = sorted((a for a in allowed if " " in a), key=len, reverse=True)
    words = {a.lower() for a in allowed if " " not in a} | {w.lower() for a in phrases for w in WORD.findall(a)}
    found = []
    for text in texts:
        kept = text
        for phrase in phrases:
            kept = kept.replace(phrase, " ")
        kept = NOTATION.sub(" ", NEAREST.sub(" ", QUOTED.sub(" ", kept)))
        for number in ENGLISH_NUMBER.finditer(kept):
            if not GERMAN_THOUSANDS.fullmatch(number.group(0)):
                found.append(f"{number.group(0)}: {text[:120]}")
        for word in WORD.findall(kept):
            if word.lower() in ENGLISH_WORDS and word.lower() not in words and word not in GERMAN_TOO and \
                    not (word.isupper() and len(word) > 1):                              # AND, A, B: notation
                found.append(f"{word}: {text[:120]}")
    return found


def english_leftovers(page, allowed: Iterable[str] = (), data: Iterable[str] = ()) -> list[str]:
    """English words and English number formats in the visible text of a German `page` (playwright), each as
    "word: the text it stands in"; [] when the page speaks German throughout (see the module's whitelist)."""
    return leftovers_in(page.evaluate(VISIBLE_TEXT, list(DATA_COLUMNS)), allowed, data)
