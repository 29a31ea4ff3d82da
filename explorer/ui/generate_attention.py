"""The Generate tab's attention maps: where each word of the prompt was attended, after every generation.

Part of the Generate tab (explorer.ui.generate_tab), in the event layer's pattern (explorer.ui.events): `layout`
builds the accordion and returns its components named (`AttentionUI`), the handlers at module level take the inputs'
values and return {component: value}, `bind` chains them after the generation and registers the /attention endpoint.
The maps live in the session's byte-bounded store (explorer.ui.sessions); gr.State holds only their token.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import gradio as gr
import numpy as np
from PIL import Image as PILImage

from explorer.checks import check_bool, check_choice
from explorer.explore.attention import attend, label_rows
from explorer.generation.attention import compact_maps
from explorer.generation.recipe import Recipe, validate
from explorer.messages import joined, say
from explorer.outputs.heatmaps import attention_json, heat, overlay
from explorer.outputs.saving import ATTENTION_NOTE, flat_note, shown_note
from explorer.ui.components import Checkbox, Dropdown, Image, as_int
from explorer.ui.context import AppContext
from explorer.ui.events import PageEvent, guard
from explorer.ui.i18n import t
from explorer.ui.pieces import explain, result_gallery

STEP_COLUMNS = 10          # the chosen word per step: 25 steps fit in three rows
OVERLAY_MIN = 256          # pixels: smaller results are enlarged (nearest neighbour) under their maps
PADDING = re.compile(r"padding \((\d+) tokens\)")      # explorer.generation.attention's label of the padding


@dataclass
class AttentionUI:
    """The attention accordion's components by name (layout's result)."""

    state: gr.State                  # this user's last maps: {"kept": token in ctx.sessions, "rows": [...]}
    word: gr.Dropdown
    half: gr.Dropdown
    special: gr.Checkbox
    note: gr.Markdown
    overlay: gr.Image
    grid: gr.Gallery
    steps: gr.Gallery

    def views(self) -> list:
        """What the views show: the word dropdown, the overlay, every word's map, the word per step, the note."""
        return [self.word, self.overlay, self.grid, self.steps, self.note]


class Views(NamedTuple):
    """One choice of word, half and special tokens as the views show it."""

    word: dict                       # the dropdown: its choices and the word shown
    overlay: object                  # the word's map over the image
    grid: list                       # every word's map, captioned with its share
    steps: list                      # the word's map at each step
    note: str


# --------------------------------------------------------------------------- layout
def layout(ctx: AppContext) -> AttentionUI:
    state = gr.State(None)
    with gr.Accordion(t("attention.title"), open=True, elem_id="attention"):
        explain(t("attention.explain"), t("attention.more"))
        with gr.Row():
            word = Dropdown([], label=t("attention.word"), field="word", elem_id="att-word",
                            elem_classes=["data-words"],                      # the prompt's own words
                            allow_custom_value=True, info=t("attention.word.info"))
            half = Dropdown(["prompt", "negative"], value="prompt", label=t("attention.half"), field="half",
                            allow_custom_value=True,    # AND recipes have a row per term: prompt 1, 2
                            info=t("attention.half.info"))
            special = Checkbox(label=t("attention.special"), field="special", value=True,
                               info=t("attention.special.info"))
        note = gr.Markdown(t("attention.note"), elem_id="att-note")
        with gr.Row():
            shown = Image(label=t("attention.overlay"), field="overlay", type="pil", height=256, format="png",
                          elem_id="att-overlay")
            grid = gr.Gallery(label=t("attention.grid"), columns=4, height="auto", format="png", elem_id="att-grid",
                              elem_classes=["steps", "captioned"])
        steps = result_gallery(t("attention.steps"), "att-steps", columns=STEP_COLUMNS)
    return AttentionUI(state, word, half, special, note, shown, grid, steps)


def bind(ctx: AppContext, ui: AttentionUI, generated: PageEvent) -> None:
    """The views after each generation (`generated`: the page's Generate event), on each change of word, half or
    special tokens, and the /attention endpoint."""
    generated.then(partial(on_attention_fresh, ctx, ui), [ui.state, ui.half, ui.special], [*ui.views(), ui.half],
                   api_visibility="private")
    ctx.apis.append((attention_endpoint(ctx), "attention"))
    ctx.listen([c.input for c in (ui.word, ui.half, ui.special)], partial(on_attention_view, ctx, ui),
               [ui.state, ui.word, ui.half, ui.special], ui.views(), status=ui.note)


# --------------------------------------------------------------------------- handlers
def on_attention_view(ctx: AppContext, ui: AttentionUI, state, word, half, special):
    check_bool("special", special)
    if not state:
        return _shown(ui, _empty(say("generate.attention.plain_only")))
    check_choice("half", half, list(state["rows"]))
    state = ctx.sessions.kept(state["kept"])          # the maps themselves live in the byte-bounded store
    if state is None:
        return _shown(ui, _empty(say("generate.attention.dropped")))
    return _shown(ui, attention_views(state, word, half, special))


def on_attention_fresh(ctx: AppContext, ui: AttentionUI, state, half, special):
    """After a generation: the new prompt's first word (the dropdown's old word may not be in it)."""
    if state is not None and half not in state["rows"]:
        half = state["rows"][0]
    views = on_attention_view(ctx, ui, state, None, half, special)
    rows = list(state["rows"]) if state is not None else ["prompt", "negative"]
    return {**views, ui.half: gr.update(choices=rows, value=half)}


def _empty(note) -> Views:
    return Views(gr.update(choices=[], value=None), None, [], [], note)


def _shown(ui: AttentionUI, views: Views) -> dict:
    return {ui.word: views.word, ui.overlay: views.overlay, ui.grid: views.grid, ui.steps: views.steps,
            ui.note: views.note}


def attention_endpoint(ctx: AppContext):
    """The /attention endpoint (API only), its defaults the loaded model's."""
    preset, cfg = ctx.model.preset, ctx.config

    @guard
    def api_attention(prompt: str, negative_prompt: str = "", seed: int = 0, steps: int = preset.steps,
                      guidance: float = preset.guidance, width: int = preset.size, height: int = preset.size,
                      scheduler: str = preset.scheduler, request: gr.Request = None) -> dict:
        """Cross-attention maps of a plain prompt: the tokens as the tokenizer shows them, one map per token
        (aggregated over steps, at latent resolution), each word's share of the attention on the prompt's words
        (`shares`, summing to 1), start, end and padding apart (`special`: shares of all attention), and the recipe."""
        recipe = validate(Recipe(model=ctx.model.name, prompt=prompt, negative_prompt=negative_prompt or "",
                                 seed=as_int(seed), steps=as_int(steps), guidance=guidance, width=as_int(width),
                                 height=as_int(height), scheduler=scheduler), cfg)
        return maps_json(ctx, recipe, request)
    return api_attention


def maps_json(ctx: AppContext, recipe: Recipe, request) -> dict:
    """The /attention endpoint's answer: the prompt's maps, shares and notes, and the recipe."""
    stream, _ = ctx.stream(lambda report: attend(ctx.model, recipe, cancel=ctx.stop_event(request), watch=False,
                                                 config=ctx.config), "attention", request)
    result = None
    for kind, item in stream:          # run to the end (the stream closes its worker)
        if kind == "done":
            result = item
    views = result.prompt
    return {**attention_json(views.labels, views.kinds, views.aggregate, [ATTENTION_NOTE, *shown_note(views),
                                                                            *flat_note(views)]),
            "shares": views.shares(), "special": views.special(), "flat": views.flat(),
            "steps": int(views.steps.shape[0]),
            "cancelled": result.generation.cancelled, "recipe": recipe.to_dict()}


# --------------------------------------------------------------------------- the maps a session keeps, and its views
def keep_maps(ctx: AppContext, request, result, image_path: str) -> dict:
    """A generation's maps kept in the session's byte-bounded store (explorer.ui.sessions); gr.State holds only
    their token and row names, so gradio's per-session state stays small."""
    state = _attention_state(ctx.model, result, image_path, ctx.config.max_session_bytes)
    nbytes = sum(views.nbytes for views in state["halves"].values())
    return {"kept": ctx.sessions.keep(request, state, nbytes, name="attention"), "rows": list(state["halves"])}


def _attention_state(model, result, image_path: str, max_bytes: int) -> dict:
    """What the attention views need of one generation, per session: the image and each row's maps, compacted to
    `max_bytes` in all (explorer.generation.attention.compact_maps: one byte a cell, coarser per-step maps)."""
    halves = label_rows(model, result.recipe, result.attention)
    share = max_bytes // max(1, len(halves))
    return {"image": image_path, "halves": {row: compact_maps(views, share) for row, views in halves.items()}}


def attention_views(state: dict, word: str | None, half: str, special: bool) -> Views:
    """The word dropdown, the overlay, every word's map, the chosen word per step, and a note."""
    views = state["halves"][half]
    choices = views.choices(special)
    mass = views.mass()
    shares = {**views.special(mass), **views.shares(mass)}     # words: of the words' attention; the rest: of all
    if not word:                                # the word that drew the most attention
        word = max((w for w, _ in views.words), key=shares.get) if views.words else choices[0]
    views.indices(word)                         # a word not in this prompt: an error naming the field "word"
    picture = _shown_large(PILImage.open(state["image"]).convert("RGB"))
    aggregate = views.aggregate.astype(np.float32)
    flat = set(views.flat())
    grid = [(overlay(picture, aggregate[views.indices(name)].sum(axis=0)),
             say("generate.attention.caption", name=_short(name), share=float(shares[name])) +
             (" ~" if name in flat else "")) for name in choices]
    steps = [(heat(m.astype(np.float32), (128, 128)), f"{i + 1}") for i, m in enumerate(views.word_steps(word))]
    note = _note(views, word, half, shares, [name for name in choices if name in flat], views.special(mass))
    return Views(gr.update(choices=[(_named(name), name) for name in choices], value=word), overlay(picture, aggregate[views.indices(word)].sum(axis=0)),
                 grid, steps, note)


def _note(views, word: str, half: str, shares: dict, flat: list[str], special: dict):
    """The note under the maps: the word's share, the nearly flat maps, the special tokens' share."""
    key = "generate.attention.word_share" if word in dict(views.words) else "generate.attention.special_share"
    lines = [say(key, word=_named(word), half=half, share=float(shares[word]))]
    if flat:
        lines.append(say("generate.attention.flat_maps", names=joined(", ", [_named(name) for name in flat])))
    if word in flat:
        lines.append(say("generate.attention.flat_word"))
    lines.append(say("generate.attention.special_total", share=float(sum(special.values()))))
    lines += shown_note(views)                  # joint attention (SD3, FLUX): which encoder's tokens are shown
    return joined(" ", lines)


def _shown_large(picture):
    """Small images shown large, with crisp pixels."""
    if max(picture.size) >= OVERLAY_MIN:
        return picture
    scale = -(-OVERLAY_MIN // max(picture.size))
    return picture.resize((picture.width * scale, picture.height * scale), PILImage.NEAREST)


def _named(name: str):
    """A token's name in a note: the padding's label keyed (its words in the page's language), the rest as written."""
    found = PADDING.fullmatch(name)
    return say("generate.attention.padding_tokens", n=int(found.group(1))) if found else name


def _short(name: str):
    """Short captions for the map grid: start, end, padding."""
    if name == "<|startoftext|>":
        return say("generate.attention.start")
    if name == "<|endoftext|>":
        return say("generate.attention.end")
    return say("generate.attention.padding") if name.startswith("padding") else name.replace("</w>", "")
