"""German for what the server returns (issue 17, item 2): the catalogue renders every message the library and the
handlers can put on a page in German, and English sessions and the API see the library's own words.

The coverage tests read explorer/ with `ast`: every InputError (and ExpressionError, and explorer.checks call) a
page can show, every status line, note and caption template, every fixed text explorer/plots puts into a figure
and every progress bar's description, made concrete by filling each `{value}` with a sample. Each must come out of
the German catalogue without English words left (quoted values and code names aside)."""
from __future__ import annotations

import ast
import itertools
import re
import string
from pathlib import Path

import pytest

from explorer.errors import InputError
from explorer.messages import joined, say, template
from explorer.text.expressions import ExpressionError, parse
from explorer.ui.i18n import TABLES, page_language
from explorer.ui.messages import accept_language, catalogue

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "explorer"
DE, EN = catalogue("de"), catalogue("en")
SAMPLE = "7"                      # what a {value} of a template becomes in a sample
# never shown on a page: the command line (English, like its --help), the server's start-up settings, training,
# and the miniature world (its captions are the model's own English grammar)
NOT_ON_A_PAGE = ("explorer/cli/", "explorer/ui/settings.py", "explorer/miniworld/", "explorer/world/",
                 "explorer/inside/train.py", "explorer/inside/calibrate.py")
# shown, but not messages: figures' texts are checked in test_every_figure_text_has_german; example prompts are
# English by design (their captions are checked in test_example_captions_have_german)
NOT_MESSAGE_MODULES = ("explorer/plots/", "explorer/models/examples.py")
# a programming error's message reaches a page only inside "Something went wrong (...)", as it is
INTERNAL_ERRORS = {"ValueError", "RuntimeError", "TypeError", "AssertionError", "KeyError", "OSError",
                   "NotImplementedError", "IndexError", "FileExistsError", "FileNotFoundError"}
# English words that German does not use (German shares "in", "an", "was", "so", "also", "will", "Name" ...)
ENGLISH = set("""the of and or is are were with for from not by this that these those its it to be been has have had
each every only than which where when what who after before done saved expected received stopped found results
result step steps image images picture pictures model words word entries entry number numbers integer least most
one two three any all no none file files folder list lists between into per such as at on off out here there
would can cannot should must your yours you our we they their them his her then if else but use used using shown
show map maps ranked loaded encoded indexed skipped nearly blank tick measured try write remove join quote press
click open draw generate generating choose could does did do read reads knows know never saw trained
same different differ differs whole split pieces still kept keeps running went wrong report please instead will
""".split()) - {"will"}
GLOSSARY_NOT = re.compile(r"Latenz|Einbettung|Konditionierung|Führung|Anleitung|\bStufe|Samen|Startwert|"
                          r"Eingabeaufforderung|Wortschatz|Rauschunterdrückung|Entrauschung\b")


def english_left(text: str) -> list[str]:
    """The English words in a text, quoted values ('...', "...", `...`) and code-like tokens (x_y, a.b, (w:1.2))
    aside; all-capital words (AND, BREAK) are syntax, not English."""
    text = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`", " ", text)
    found = []
    for token in text.split():
        token = token.strip(",;.!?…*:")
        token = token if "(" in token and ")" in token or "[" in token else token.strip("()")    # (w) [w]: syntax
        if re.fullmatch(r"[A-Za-zÄÖÜäöüß]+(?:-[A-Za-zÄÖÜäöüß]+)*", token) and not token.isupper() and \
                token.lower() in ENGLISH:
            found.append(token)
    return found


# --------------------------------------------------------------------------- reading the source
def _python_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith(NOT_ON_A_PAGE):
            yield relative, ast.parse(path.read_text(encoding="utf-8"))


def _assignments(tree) -> dict[str, list]:
    found: dict[str, list] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append(node.value)
    return found


def samples(node, names: dict, depth: int = 0) -> list[str]:
    """The concrete texts a string expression can make, each unknown value as SAMPLE ([] if it is not text)."""
    if depth > 6 or node is None:
        return [SAMPLE]
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else [SAMPLE]
    if isinstance(node, ast.IfExp):
        return samples(node.body, names, depth + 1) + samples(node.orelse, names, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [a + b for a, b in itertools.product(samples(node.left, names, depth + 1),
                                                    samples(node.right, names, depth + 1))][:32]
    if isinstance(node, ast.Name) and node.id in names and depth < 3:
        return [s for value in names[node.id] for s in samples(value, names, depth + 1)][:32]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append([value.value])
            elif isinstance(value.value, (ast.IfExp, ast.JoinedStr, ast.Constant)) or _words(value.value, names):
                parts.append(samples(value.value, names, depth + 1))
            else:
                parts.append([repr(SAMPLE) if value.conversion == ord("r") else SAMPLE])
        return ["".join(p) for p in itertools.product(*parts)][:32]
    return [SAMPLE]


def _words(node, names: dict) -> bool:
    """A variable that only ever holds literal text (`where = "a CPU" if cpu else "this accelerator"`)."""
    def literal(value) -> bool:
        return isinstance(value, ast.Constant) and isinstance(value.value, str) or \
            isinstance(value, ast.IfExp) and literal(value.body) and literal(value.orelse)

    return isinstance(node, ast.Name) and bool(names.get(node.id)) and all(literal(v) for v in names[node.id])


def _call_name(node) -> str:
    return node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) \
        else ""


def _keyed(node) -> bool:
    """A keyed message made where it is passed: say("key", ...)."""
    return isinstance(node, ast.Call) and _call_name(node) in KEYED


def error_sites():
    """(where, field of InputError, [allowed samples], [received samples], [hint samples]) for every construction
    of an InputError or ExpressionError, and every explorer.checks call with its own note or noun."""
    for relative, tree in _python_files():
        names = _assignments(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name, where = _call_name(node), f"{relative}:{node.lineno}"
            args, kwargs = node.args, {k.arg: k.value for k in node.keywords}
            if name == "InputError" and relative != "explorer/checks.py":
                yield where, samples(args[1] if len(args) > 1 else kwargs.get("allowed"), names), \
                    samples(args[2] if len(args) > 2 else kwargs.get("received"), names), \
                    samples(args[3] if len(args) > 3 else kwargs.get("hint"), names) if (len(args) > 3 or "hint" in
                                                                                          kwargs) else []
            elif name == "ExpressionError":
                yield where, samples(args[2] if len(args) > 2 else kwargs.get("allowed"), names), \
                    samples(args[3] if len(args) > 3 else kwargs.get("received"), names), \
                    samples(args[4] if len(args) > 4 else kwargs.get("hint"), names) if (len(args) > 4 or "hint" in
                                                                                          kwargs) else []
            elif name == "fail" and relative == "explorer/text/expressions.py" and len(args) > 1:
                yield where, samples(args[1], names), [], samples(kwargs["hint"], names) if "hint" in kwargs else []
            elif name == "check_int":                   # keyed (explorer/checks.py); a plain note fails
                note = args[4] if len(args) > 4 else None
                yield where, [keyed_template("checks.int_in", "de")] if note is None or _keyed(note) else \
                    [f"an integer in [{SAMPLE}, {SAMPLE}]{n}" for n in samples(note, names)], [], []
            elif name == "check_float":
                yield where, [keyed_template("checks.number_in", "de")], [], []
            elif name == "check_choice":
                yield where, [keyed_template("checks.one_of", "de")], [], []
            elif name == "check_bool":
                yield where, [keyed_template("checks.true_or_false", "de")], [], []
            elif name == "check_text":
                noun = kwargs.get("noun")
                blank = [keyed_template("checks.non_empty_text", "de")] if noun is None else \
                    [keyed_template("checks.non_empty_prompt", "de")] if getattr(noun, "value", "") == "prompt" else \
                    [keyed_template("checks.non_empty", "de")] if _keyed(noun) else \
                    [f"a non-empty {n}" for n in samples(noun, names)]
                yield where, [keyed_template("checks.text", "de"), keyed_template("checks.at_most_chars", "de"),
                              *blank], [keyed_template("checks.chars", "de")], []
            elif name == "refuse" and len(args) > 1:                     # the page's own checks (ui/components.py)
                yield where, samples(args[1], names), samples(args[0], names), []
        for node in ast.walk(tree):                                        # ... and what they allow
            if isinstance(node, ast.FunctionDef) and node.name == "allowed":
                for ret in (n for n in ast.walk(node) if isinstance(n, ast.Return)):
                    yield f"{relative}:{ret.lineno}", samples(ret.value, names), [], []


# where a text is not a message a page shows: (file, the text's beginning) -> why
NOT_MESSAGES = {
    ("explorer/explore/probe.py", "**What this measures.**"): "static: the probe's explanation (de.json probe.more)",
    ("explorer/outputs/saving.py", "A map shows where"): "the attention API's JSON note (/attention), English",
    ("explorer/outputs/saving.py", "Nearly flat (max/min"): "the attention API's JSON note (/attention), English",
    ("explorer/outputs/a1111.py", "Align Your Steps"): "an A1111 schedule name read from PNG text (a value)",
    ("explorer/outputs/png.py", "Negative prompt: "): "A1111's parameters format written into PNGs",
    ("explorer/ui/app.py", "\n.explain p"): "CSS",
    ("explorer/ui/map_tab.py", "\nfunction draw()"): "JavaScript",
    ("explorer/ui/app.py", "<script>"): "JavaScript (German for gradio's progress overlay)",
    ("explorer/ui/lesson_tab.py", "() =>"): "JavaScript (scrolling a result into view)",
    ("explorer/explore/blends.py", f"{SAMPLE}\ntext cos to A"): "the CLI's caption of a panel (the page shows titles)",
    ("explorer/explore/blends.py", "\nimage–text CLIP to A"): "the CLI's caption of a panel (the page shows titles)",
    ("explorer/ui/map_tab.py", "image: "): "a point's label on the map: data, which a click on it picks",
}
# the modules that render messages, not make them: their literals are a list's English joints ("a, b and c": German
# joins with the word.and key), gr.I18n's and the catalogues' plumbing
RENDERERS = ("explorer/messages.py", "explorer/ui/i18n.py", "explorer/ui/messages.py")
KEYED = {"say", "Message"}                  # keyed messages (explorer.messages): the key's German is checked
LOGGING = {"debug", "info", "warning", "error", "exception", "critical"}


def message_templates():
    """(where, [samples]) for every string literal or f-string in explorer/ that holds English words and can reach
    a page: docstrings, logging, progress bars, error constructions (checked above), the i18n keys, dictionary
    keys and comparisons left out."""
    for relative, tree in _python_files():
        if relative in RENDERERS or relative.startswith(NOT_MESSAGE_MODULES):
            continue
        names, skip, keyed = _assignments(tree), set(), []
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                    isinstance(body[0].value, ast.Constant) and isinstance(node, (ast.Module, ast.ClassDef,
                                                                                  ast.FunctionDef)):
                skip.add(id(body[0].value))                                 # docstrings
            if isinstance(node, ast.Call):
                name = _call_name(node)
                if name in KEYED and node.args and isinstance(node.args[0], ast.Constant):
                    keyed.append((f"{relative}:{node.lineno}", [keyed_template(node.args[0].value, "de")]))
                if name in LOGGING | {"InputError", "ExpressionError", "fail", "check_int", "check_float",
                                      "check_choice", "check_text", "check_bool", "refuse", "progress", "t",
                                      "I18nData", "check_upload"} | INTERNAL_ERRORS | KEYED or name.startswith("add_argument"):
                    skip.update(id(n) for arg in [*node.args, *(k.value for k in node.keywords)] for n in ast.walk(arg))
                skip.update(id(n) for k in node.keywords if k.arg in ("desc", "elem_id", "elem_classes", "field")
                            for n in ast.walk(k.value))
            for annotation in [getattr(node, "annotation", None), getattr(node, "returns", None)]:
                if annotation is not None:                                   # "X | None" type hints
                    skip.update(id(n) for n in ast.walk(annotation))
            if isinstance(node, (ast.Subscript, ast.Compare)):
                skip.update(id(n) for n in ast.walk(node.slice if isinstance(node, ast.Subscript) else node))
            if isinstance(node, ast.Dict):
                skip.update(id(n) for key in node.keys if key is not None for n in ast.walk(key))
            if isinstance(node, ast.JoinedStr):
                skip.update(id(n) for n in ast.walk(node) if n is not node)    # parts of a bigger f-string
        for node in ast.walk(tree):
            if id(node) in skip or not isinstance(node, (ast.Constant, ast.JoinedStr)):
                continue
            if isinstance(node, ast.Constant) and not isinstance(node.value, str):
                continue
            texts = samples(node, names)
            if not any(english_left(text) and " " in text.strip() for text in texts):   # a name is not a message
                continue
            if any(f == relative and texts[0].startswith(start) for f, start in NOT_MESSAGES):
                continue
            yield f"{relative}:{node.lineno}", texts
        yield from keyed                        # a keyed message: its German template is what a page shows


def keyed_template(key: str, lang: str) -> str:
    """A keyed message's template in `lang` (explorer.messages), its {values} as SAMPLE; a key missing from the
    English catalogue is returned as it is, so the scan reports it."""
    try:
        return re.sub(r"\{[^{}]*\}", SAMPLE, template(key, lang))
    except KeyError:
        return f"the key {key} is not in the English catalogue"


def _german(text: str) -> str:
    """A message template's sample as a German page shows it: as a status line, a label, a table header, or as
    the part of an error message it is (what a field takes, what it received)."""
    for shown in (DE.text(text), DE.label(text), DE.header(text), DE.allowed(text), str(DE.received(text))):
        if not english_left(shown):
            return shown
    return DE.text(text)


# --------------------------------------------------------------------------- coverage
def test_every_error_a_page_can_show_has_german():
    missing, sites, texts = [], 0, 0
    for where, allowed, received, hints in error_sites():
        sites += 1
        for text in allowed:
            texts += 1
            if english_left(text) and english_left(DE.allowed(text)):
                missing.append(f"{where}: allowed {text!r} -> {DE.allowed(text)!r}")
        for text in received:
            if english_left(text) and english_left(str(DE.received(text))):
                missing.append(f"{where}: received {text!r}")
        for text in hints:
            if english_left(text) and english_left(DE.text(text)):
                missing.append(f"{where}: hint {text!r} -> {DE.text(text)!r}")
    assert sites > 200 and texts > 200, (sites, texts)              # the scan found the sites
    assert not missing, f"{len(missing)} error texts without German:\n" + "\n".join(missing)


def test_every_status_line_and_note_has_german():
    missing, count = [], 0
    for where, texts in message_templates():
        count += 1
        for text in texts:
            if english_left(_german(text)):
                missing.append(f"{where}: {text!r} -> {_german(text)!r}")
    assert count > 150, count
    assert not missing, f"{len(missing)} message templates without German:\n" + "\n".join(missing)


def test_example_captions_have_german():
    from explorer.models.examples import BY_NAME

    captions = {figure.caption for examples in BY_NAME.values() for figure in examples.figures}
    assert len(captions) >= 6 and not [c for c in captions if english_left(DE.label(c))]


def test_the_catalogue_keeps_the_glossary_and_its_values():
    from explorer.messages import catalogue as keyed

    german = [*DE.units.values(), *DE.choices.values(), *DE.headers.values(), *DE.fields.values(),
              *keyed("de").values()]
    ruled_out = [text for text in german if GLOSSARY_NOT.search(text)]
    assert not ruled_out, f"words the glossary (assets/i18n/README.md) rules out: {ruled_out}"
    assert "Schritt" in DE.text(say("generate.done_one_step", seed=0)) and "Guidance" in DE.allowed(
        say("recipe.turbo_guidance", g=1, model="m"))
    assert set(TABLES["de"]) - set(TABLES["en"]) == set()             # (the static tables are another test's)


def test_plain_text_stays_as_it_is_and_keyed_text_is_rendered_by_key():
    """No pattern translates finished English any more (issue 27, item 3): a plain string reaches a German page as it
    is (a prompt, a file name, and English that a site forgot to key: the source scans above find those); a keyed
    one is rendered by its key; a number shown alone is written as German writes it."""
    assert DE.text("Done: seed 0, 25 steps.") == "Done: seed 0, 25 steps."
    assert DE.label("seed 3") == "seed 3" and DE.allowed("an integer in [1, 50]") == "an integer in [1, 50]"
    assert DE.label(say("explore.search.caption_seed", seed=3) + " · CLIP 0.312") == "Seed 3 · CLIP 0.312"
    assert DE.label(0.5) == "0,5" and DE.label("0.14") == "0,14" and DE.label("1,025") == "1.025"
    assert DE.received(say("checks.chars", n=12)) == "12 Zeichen" and DE.received(7) == 7
    assert DE.progress("step 3/25") == "step 3/25" and DE.figure_text(["a cat", say("plots.steps.hover")]) == \
        ["a cat", "Schritt %{x}: %{y:.4f}<extra></extra>"]
    error = InputError("expression", say("checks.text"), 3)          # the library's field name, keyed for the page
    assert DE.error(error) == "Ausdruck: erwartet einen Text, erhalten 3"


def test_the_pattern_catalogue_is_gone():
    """assets/i18n/messages.de.json and the regular expressions that read it are gone (issue 27, item 3: translate
    keys, not sentences); explorer/ui/messages.py compiles one expression, the Accept-Language header's."""
    source = (PACKAGE / "ui" / "messages.py").read_text(encoding="utf-8")
    assert not (ROOT / "assets" / "i18n" / "messages.de.json").exists()
    tree = ast.parse(source)
    compiled = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and _call_name(node) == "compile"]
    header = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign) and
              [getattr(target, "id", None) for target in node.targets] == ["_LANGUAGE"]]
    assert compiled == header and len(header) == 1, [ast.unparse(c) for c in compiled]
    assert "compile_template" not in source and "messages.de" not in source and "import json" not in source


# --------------------------------------------------------------------------- figures and progress bars
FIGURE_KEYWORDS = {"title", "name", "text", "annotation_text", "hovertemplate", "xaxis_title", "yaxis_title",
                   "title_text", "subplot_titles"}      # where explorer/plots puts a text that a figure shows
PLOTLY_MARKUP = re.compile(r"%\{[^{}]*\}|<[^<>]*>|'[^']*'")   # %{x:.3f}, <br>, <extra>; quoted values


def _figure_samples(node, names: dict) -> list[str]:
    """The texts a keyword's value can put into a figure (a dict(...) inside is visited as a call of its own)."""
    if isinstance(node, ast.Call):
        return []
    if isinstance(node, ast.BoolOp):                                       # title or f"..."
        return [text for value in node.values for text in _figure_samples(value, names)]
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)):                 # subplot_titles=[f"..." for n in names]
        return _figure_samples(node.elt, names)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [text for value in node.elts for text in _figure_samples(value, names)]
    return samples(node, names)


def figure_texts():
    """(where, sample, key) for every fixed text that explorer/plots passes as a figure's title, axis title,
    annotation, legend name or hover template (key None); data passed through (a prompt, a concept word) is a SAMPLE,
    without words. A keyed text (a say() anywhere in explorer/plots) is its key's English template and its key."""
    for path in sorted((PACKAGE / "plots").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = _assignments(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                where = f"explorer/plots/{path.name}:{node.lineno}"
                if _call_name(node) in KEYED and node.args and isinstance(node.args[0], ast.Constant):
                    yield where, keyed_template(node.args[0].value, "en"), node.args[0].value
                for keyword in node.keywords:
                    if keyword.arg in FIGURE_KEYWORDS:
                        for text in _figure_samples(keyword.value, names):
                            yield where, text, None


def has_words(text: str) -> bool:
    """Whether a figure's text holds words to translate (plotly's markup, quoted values and acronyms aside)."""
    return bool(re.search(r"[a-z]{2,}", PLOTLY_MARKUP.sub(" ", text)))


def test_every_figure_text_has_german():
    missing, count = [], 0
    for where, text, key in figure_texts():
        if key is not None:                                             # keyed: its German template, not English
            german = keyed_template(key, "de")
            count += has_words(text)
            if has_words(text) and (german == text or english_left(german)):
                missing.append(f"{where}: {key} {german!r}")
        elif has_words(text):
            count += 1
            if DE.figure_text(text) == text:
                missing.append(f"{where}: {text!r}")
    assert count > 40, count                                            # the scan found the figures' texts
    assert not missing, f"{len(missing)} figure texts not keyed (say(...) in explorer/plots):\n" + \
        "\n".join(missing)


class Keyed(str):
    """A keyed message's German template, as a page shows it (no pattern to look up)."""


def progress_texts():
    """(where, [samples]) for every progress bar's description a page can show: progress(..., desc=...) and
    progress(fraction, text) (a gr.Progress handed to the library, explorer.models.vision)."""
    for relative, tree in _python_files():
        names = _assignments(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) == "progress":
                desc = {k.arg: k.value for k in node.keywords}.get("desc") or (node.args[1] if len(node.args) > 1
                                                                                else None)
                if desc is not None:                    # a keyed description: its German template
                    yield f"{relative}:{node.lineno}", [Keyed(keyed_template(desc.args[0].value, "de"))] if \
                        _keyed(desc) and isinstance(desc.args[0], ast.Constant) else samples(desc, names)


def test_every_progress_text_has_german():
    missing, count = [], 0
    for where, texts in progress_texts():
        for text in texts:
            if has_words(text):
                count += 1
                shown = text if isinstance(text, Keyed) else DE.progress(text)
                if shown == text and not isinstance(text, Keyed) or english_left(shown):
                    missing.append(f"{where}: {text!r} -> {DE.progress(text)!r}")
    assert count >= 9, count                       # keyed descriptions (say) are checked by test_keyed_messages
    assert not missing, f"{len(missing)} progress texts not keyed (desc=say(...)):\n" + \
        "\n".join(missing)


def _figure_fields(spec: dict):
    """(where, text) for each text of a figure that a session reads in its language, as Catalogue.figure walks."""
    layout = spec["layout"]
    for key, part in sorted(layout.items()):
        title = part if key == "title" else part.get("title") if isinstance(part, dict) else None
        if isinstance(title, dict) and title.get("text"):
            yield key, title["text"]
    for i, note in enumerate(layout.get("annotations", [])):
        if note.get("text"):
            yield f"annotations[{i}]", note["text"]
    for i, trace in enumerate(spec["data"]):
        for key in ("name", "hovertemplate"):
            if trace.get(key):
                yield f"data[{i}].{key}", trace[key]


def _figures():
    """Every figure of explorer/plots on small inputs, with the data it holds (prompts, labels: kept as they are)."""
    import numpy as np

    from explorer.concepts.axes import AxisRanking
    from explorer.concepts.projection import MapResult
    from explorer.plots import embeddings, map as maps, steps, walks

    data = {"a red fox", "a cat", "animals", "red", "blue", "fox", "cat", "shape", "a red fox -> a cat",
            "image: a red fox", "circle", "square"}
    kinds = ["concept", "concept", "prompt", "result", "ingredient", "path", "path", "image"]
    labels = ["fox", "cat", "a red fox", "= fox + cat", "fox", "a red fox", "a cat", "image: a red fox"]
    groups = ["", "", "q0", "q1", "q1", "a red fox -> a cat", "a red fox -> a cat", "q3"]
    yield "change_per_step", steps.change_per_step_figure([None, 0.4, 0.1, 0.05], 1), data
    yield "token_norms", embeddings.token_norms_figure(["<|startoftext|>", "fox</w>"], ["start", "word"],
                                                       [1.0, 2.0], [3.0, 4.0]), data
    yield "token_norms_xl", embeddings.token_norms_figure(["fox</w>"], ["word"], [1.0], [3.0], [2.0]), data
    for where in (say("plots.arithmetic.conditioning"), say("plots.arithmetic.token_embeddings")):
        yield f"arithmetic_norms {where}", embeddings.arithmetic_norms_figure([1.0, 2.0], [1.5, 3.0], [1.0, 1.0],
                                                                              where), data
    for method in ("umap", "pca"):
        result = MapResult(labels, kinds, ["animals", "animals", *kinds[2:]], groups,
                           np.linspace(0.1, 1.0, len(kinds)), np.arange(2.0 * len(kinds)).reshape(-1, 2), None,
                           method)
        yield f"concept_map {method}", maps.concept_map_figure(result), data
    yield "axis", maps.axis_figure(AxisRanking("red", "blue", ["fox", "cat"], ["animals"] * 2, [0.2, 0.8])), data
    positions = np.linspace(0, 1, 4)
    by_seed = [say("explore.curves.end_seed", seed=s) for s in (3, 4)]          # the ends' names as curves makes them
    by_both = [say("explore.curves.end_prompt_seed", prompt=p, seed=s) for p, s in (("a red fox", 3), ("a cat", 4))]
    for ends in (["a red fox", "a cat"], by_seed, by_both):
        measures = {say(f"explore.curves.{name}"): np.random.default_rng(0).random((4, 2)) for name in
                    ("text", "noise", "pixels", "clip_text", "clip_image")}
        yield f"response {ends[0]}", walks.response_figure(positions, measures, ends, {"pixels": [0.5]}), data
    yield "response (no frames)", walks.response_figure(positions, {}, ["a red fox", "a cat"]), data
    counts = {"a red fox": [3, 1], "a cat": [2, 2]}
    intervals = {p: [(0.1, 0.9), (0.1, 0.9)] for p in counts}
    yield "bias", walks.bias_figure("shape", ["circle", "square"], counts), data
    yield "bias_panel", walks.bias_panel({"shape": ["circle", "square"], "colour": ["red", "blue"]},
                                         {"shape": counts, "colour": counts}, {"shape": intervals}, 4), data


def test_figures_are_german_and_keep_their_data():
    import json

    import plotly.graph_objects as go

    from explorer.ui.i18n import shown as shown_as
    from explorer.ui.map_tab import FigureJSON

    for name, figure, data in _figures():
        english = figure.to_plotly_json()
        assert EN.figure(english) is english                            # English: the figure itself
        parsed = json.loads(figure.to_json())                           # English, as JSON
        german = json.loads(go.Figure(DE.figure(english)).to_json())    # a Plot's figure: keyed texts by their key
        if name.startswith("concept_map"):                              # the map's HTML holds its JSON, made from
            assert json.loads(shown_as(FigureJSON(figure), "HTML", DE)) == german       # the figure it keeps (keys)
            assert FigureJSON(figure) == figure.to_json()                # English (the API): as it was
        shown = dict(_figure_fields(german))
        for where, text in _figure_fields(parsed):
            if text in data:                                            # a prompt, a concept: the user's words
                assert shown[where] == text, (name, where, shown[where])
            elif has_words(text):
                assert shown[where] != text, f"{name}: {where} {text!r} stays English"
        for key in ("text", "customdata"):                              # points' labels and what a click picks
            assert [trace.get(key) for trace in german["data"]] == [trace.get(key) for trace in parsed["data"]]
        assert german["layout"].get("xaxis", {}).get("ticktext") == parsed["layout"].get("xaxis", {}).get("ticktext")


def test_every_figure_text_is_keyed():
    """A figure of each plot module, in German: every fixed text (title, axis title, annotation, legend name, hover
    template) is a keyed message whose German differs from its English; one that went back to plain English fails
    (the page would show it English once the pattern entries are gone)."""
    from explorer.messages import is_keyed, render

    modules, checked = set(), 0
    for name, figure, data in _figures():
        spec = figure.to_plotly_json()
        for where, text in _figure_fields(spec):
            if text in data or not has_words(text):                   # a prompt, a concept: the user's words
                continue
            assert is_keyed(text), f"{name}: {where} {text!r} is plain English, not a keyed message"
            assert render(text, "de") != text and not english_left(render(text, "de")), (name, where)
            checked += 1
        modules.add(name.split()[0])
    assert {"change_per_step", "token_norms", "arithmetic_norms", "concept_map", "axis", "response", "bias"} <= modules
    assert checked > 60, checked


def test_plotly_placeholders_stay_literal_in_every_language():
    """plotly's own %{x:.3f} in a keyed hover template is written %{{x:.3f}} in the catalogues: each language's
    figure keeps exactly the English template's placeholders, unformatted."""
    from explorer.messages import catalogue, render

    plotly = re.compile(r"%\{[^{}]*\}")
    assert say("plots.walks.hover", end="a cat") == "a cat<br>position %{x:.3f}<br>similarity %{y:.3f}<extra></extra>"
    assert render(say("plots.steps.hover"), "de") == "Schritt %{x}: %{y:.4f}<extra></extra>"
    keyed = [key for key in catalogue("en") if key.startswith("plots.") and "%{{" in catalogue("en")[key]]
    assert len(keyed) >= 8, keyed
    for key in keyed:
        english = say(key, **{name: "p" for _, name, _, _ in string.Formatter().parse(catalogue("en")[key]) if name})
        assert plotly.findall(english) and "{{" not in english, (key, english)
        assert plotly.findall(render(english, "de")) == plotly.findall(english), key
    for name, figure, _ in _figures():
        for trace in figure.to_plotly_json()["data"]:
            if trace.get("hovertemplate"):
                assert plotly.findall(render(trace["hovertemplate"], "de")) == plotly.findall(trace["hovertemplate"])


def test_the_examples_probe_attribute_is_german_in_its_chart():
    from explorer.messages import render
    from explorer.plots import walks

    figure = walks.bias_panel({"colour": ["red", "blue"], "skin tone": ["light", "dark"]},
                              {"colour": {"a cat": [1, 2]}}, {}, 3).to_plotly_json()
    titles = [render(note["text"], "de") for note in figure["layout"]["annotations"]]
    assert titles == ["Farbe: CLIPs Wahl je Bild (n = 3 Seeds je Prompt)",
                      "skin tone: CLIPs Wahl je Bild (n = 3 Seeds je Prompt)"]      # a name typed: as typed


def test_progress_bars_read_german():
    step = say("generate.progress", i=3, n=25)
    assert DE.progress(step) == "Schritt 3/25" and EN.progress(step) == "step 3/25" == step
    panel = say("ui_embeddings.blend.progress_panel", i=2, n=7, title=say("explore.blend.a"))      # keyed
    assert DE.progress(panel) == "Bild 2 von 7: A allein" and EN.progress(panel) == "panel 2 of 7: A alone"
    assert DE.progress(say("map.progress.encoding", name="my list")) == "'my list' wird codiert"
    assert DE.progress(None) is None


# --------------------------------------------------------------------------- the catalogue itself
@pytest.mark.parametrize("header, lang", [
    ("de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de"), ("de", "de"), ("de-AT", "de"), ("DE-ch;q=0.8", "de"),
    ("en-US,en;q=0.9,de;q=0.8", "en"), ("fr-FR,de;q=0.5", "en"), ("en;q=0.5,de;q=0.9", "de"), ("", "en"),
    (None, "en"), ("*", "en"), ("de;q=abc", "en"), ("garbage,,;", "en"), ("de;q=0,en;q=0.1", "en"),
])
def test_the_browser_language_comes_from_accept_language(header, lang):
    assert accept_language(header) == lang


def test_a_forced_language_wins_over_the_browser():
    class Request:
        headers = {"accept-language": "en-US"}

    assert page_language(Request(), "de") == "de" and page_language(Request()) == "en"
    assert page_language(None) == "en" and page_language(None, "en") == "en"


def test_english_is_the_identity():
    error = InputError("steps", "an integer in [1, 50]", 0, "Use fewer steps")
    assert EN.error(error, {"steps": "Schritte"}) == str(error)
    assert EN.text("Done: seed 0, 25 steps.") == "Done: seed 0, 25 steps." and EN.label("seed 3") == "seed 3"
    assert EN.header("concept") == "concept" and EN.choice("PCA (instant)") == "PCA (instant)"


def test_errors_name_the_field_as_the_page_labels_it_or_in_backticks():
    error = InputError("steps", say("checks.int_in", low=1, high=50, note=""), 0)
    assert DE.error(error, {"steps": "Schritte"}) == "Schritte: erwartet eine ganze Zahl in [1, 50], erhalten 0"
    assert DE.error(error) == "`steps`: erwartet eine ganze Zahl in [1, 50], erhalten 0"
    long = InputError("prompt", say("checks.at_most_chars", n=10), say("checks.chars", n=12), say("recipe.fewer_steps"))
    assert DE.error(long, {"prompt": "Prompt"}) == ("Prompt: erwartet höchstens 10 Zeichen, erhalten '12 Zeichen'. "
                                                     "Verwenden Sie weniger Schritte oder eine kleinere Größe")
    assert DE.message(RuntimeError(say("error.unexpected", detail="KeyError"))).startswith(
        "Etwas ist schiefgegangen (KeyError)")


def test_an_expression_error_keeps_its_caret():
    with pytest.raises(ExpressionError) as caught:
        parse('"a cat" + (dog')
    german = DE.error(caught.value, {"expression": "Ausdruck"})
    first, caret = german.split("\n", 1)
    assert first.startswith("Ausdruck: erwartet ')' an Position ") and "erhalten das Ende der Eingabe" in first
    assert "Unausgeglichene Klammern" in first and caret == str(caught.value).split("\n", 1)[1]
    assert DE.refusal(german).startswith("**⚠ Nicht ausgeführt — Ausdruck:") and "```text\n" in DE.refusal(german)


def test_status_lines_become_german_sentence_by_sentence():
    line = (say("generate.done", seed=0, steps=25) + " " + say("generate.settles", n=12) + " " +
            say("generate.saved_as", name="00001-0.png") + "\n\n⚑ " + say("known.random"))
    assert line == ("Done: seed 0, 25 steps. The picture settles at step 12 (x0 changes < 10% of its largest change "
                    "after it). Saved as `00001-0.png` with its recipe (download it under *Recipe, downloads and "
                    "history*).\n\n⚑ This model has random weights: it knows no words; its pictures are noise.")
    german = DE.text(line)
    assert german.startswith("Fertig: Seed 0, 25 Schritte. Das Bild steht ab Schritt 12 fest")
    assert "Gespeichert als `00001-0.png`" in german and "zufällige Gewichte" in german and not english_left(german)
    flips = joined("; ", [say("interpolate.flips", name=say(f"explore.curves.{name}"), at=say("interpolate.position", x=x))
                          for name, x in (("text", 0.43), ("pixels", 0.57))])
    walk = say("interpolate.done", kind=say("explore.walk.prompt"), n=8, batch=4) + " " + flips + ". " + \
        say("interpolate.saved") + " (a prompt the user typed)"             # keyed parts by key, the rest as it is
    assert walk == ("Done: prompt walk, 8 frames in batches of 4. text (pooled) flips at 0.43; pixels flips at 0.57. "
                    "Every frame is saved with its recipe (the downloads below). (a prompt the user typed)")
    assert DE.text(walk) == ("Fertig: Prompt-Weg, 8 Bilder in Batches zu 4. Text (gepoolt) kippt um bei 0,43; "
                             "Pixel kippt um bei 0,57. Jedes Bild ist mit seinem Rezept gespeichert (die Downloads "
                             "unten). (a prompt the user typed)")
    assert DE.text("a prompt the user typed") == "a prompt the user typed"      # unknown text: as it is
