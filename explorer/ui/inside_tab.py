"""The Inside tab, sub-tab Features: the feature microscope (explorer.inside) on the model's denoiser blocks.

Pick a block and a feature: its top pictures with heat maps where it fires, its oracle label and purity, and its
activation at every denoising step of a generation. Paint: add the feature into a box of the image during chosen
steps and regenerate. In the event layer's pattern (explorer.ui.events): `layout` builds the components and returns
them named, handlers at module level take plain values and return {component: value}. Endpoints: /features (the
list, API only), /feature (one feature's view), /paint (the painted image).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr
import plotly.graph_objects as go

from explorer.errors import InputError
from explorer.generation.recipe import recipe_defaults, validate
from explorer.inside.microscope import Microscope, feature_view
from explorer.inside.paint import DEFAULT_STRENGTH, MAX_STRENGTH, Paint, paint_generate, parse_box
from explorer.messages import say
from explorer.ui import inside_lens
from explorer.ui.components import Dropdown, Number, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.events import guard
from explorer.ui.i18n import t
from explorer.ui.pieces import explain, result_gallery, status_line


@dataclass
class UI:
    """The sub-tab's components by name (layout's result)."""

    block: gr.Dropdown
    feature: gr.Number
    prompt: gr.Textbox
    seed: gr.Number
    show: gr.Button
    status: gr.Markdown
    pictures: gr.Gallery
    trace: gr.Plot
    box: gr.Textbox
    strength: gr.Slider
    steps_from: gr.Number
    steps_to: gr.Number
    paint: gr.Button
    paint_status: gr.Markdown
    painted: gr.Image


def microscope(ctx: AppContext) -> Microscope | None:
    """The model's SAEs and labels, None where it ships none (the tab then says so)."""
    try:
        return Microscope.for_model(ctx.model)
    except InputError:
        return None


def build(ctx: AppContext) -> None:
    """The Inside tab: sub-tabs Features (this module) and Lens (explorer.ui.inside_lens)."""
    with gr.Tab(t("inside.tab"), id="inside"):
        with gr.Tabs() as inner:
            with gr.Tab(t("inside.features.tab"), id="inside-features"):
                scope = microscope(ctx)
                ui = layout(ctx, scope)
            with gr.Tab(t("inside.lens.tab"), id="inside-lens"):
                inside_lens.build(ctx, [(ctx.tabs, "inside"), (inner, "inside-lens")])
    bind(ctx, ui, scope, [(ctx.tabs, "inside"), (inner, "inside-features")])


# --------------------------------------------------------------------------- layout
def layout(ctx: AppContext, scope: Microscope | None) -> UI:
    explain(t("inside.features.explain"), t("inside.features.more"))
    if scope is None:
        gr.Markdown(t("inside.features.none"), elem_id="inside-none")
    blocks = scope.blocks if scope is not None else []
    # the view opens on the last block and its most active labelled feature (it took the first block's before)
    first = scope.features(blocks[-1])[0]["id"] if scope is not None and scope.features(blocks[-1]) else 0
    with gr.Row():
        block = Dropdown(blocks, value=blocks[-1] if blocks else None, label=t("inside.block"), field="block")
        feature = Number(value=first, precision=0, label=t("inside.feature"), field="feature")
        prompt = Textbox(value="", label=t("inside.prompt"), field="prompt", info=t("inside.prompt.info"))
        seed = Number(value=0, precision=0, label=t("inside.seed"), field="seed")
    show = gr.Button(t("inside.show"), elem_id="inside-show")
    status = status_line("inside-status")
    with gr.Row():
        pictures = result_gallery(t("inside.pictures"), "inside-pictures", columns=6, object_fit="contain")
        trace = gr.Plot(label=t("inside.trace"), elem_id="inside-trace")
    with gr.Accordion(t("inside.paint.title"), open=True, elem_id="inside-paint"):
        explain(t("inside.paint.explain"), t("inside.paint.more"))
        with gr.Row():
            box = Textbox(value="16,16,48,48", label=t("inside.box"), field="box", info=t("inside.box.info"))
            strength = Slider(-MAX_STRENGTH, MAX_STRENGTH, value=DEFAULT_STRENGTH, step=0.5,
                              label=t("inside.strength"), field="strength")
            steps_from = Number(value=0, precision=0, label=t("inside.steps_from"), field="steps_from")
            steps_to = Number(value=ctx.model.preset.steps, precision=0, label=t("inside.steps_to"), field="steps_to")
        paint = gr.Button(t("inside.paint.run"), elem_id="inside-paint-btn")
        paint_status = status_line("inside-paint-status")
        painted = gr.Image(label=t("inside.painted"), type="pil", format="png", elem_id="inside-painted")
    return UI(block=block, feature=feature, prompt=prompt, seed=seed, show=show, status=status, pictures=pictures,
              trace=trace, box=box, strength=strength, steps_from=steps_from, steps_to=steps_to, paint=paint,
              paint_status=paint_status, painted=painted)


# --------------------------------------------------------------------------- events
def bind(ctx: AppContext, ui: UI, scope: Microscope | None, path: list) -> None:
    """path: the (tabs, id) pairs that open the Features sub-tab (a lesson's "show me" opens them)."""
    ctx.listen(ui.show.click, partial(on_show, ctx, ui, scope), [ui.block, ui.feature, ui.prompt, ui.seed],
               [ui.pictures, ui.trace, ui.status], status=ui.status, api_name="feature", concurrency_id="model",
               view=View("features", dict(block=ui.block, feature=ui.feature), path,
                         result="inside-pictures"))
    ctx.listen(ui.paint.click, partial(on_paint, ctx, ui, scope),
               [ui.block, ui.feature, ui.prompt, ui.seed, ui.box, ui.strength, ui.steps_from, ui.steps_to],
               [ui.painted, ui.paint_status], status=ui.paint_status, api_name="paint", concurrency_id="model")

    @guard
    def features(block: str = "") -> list[dict]:
        """The labelled SAE features of the model's denoiser blocks (all blocks, or one): each with block, id, label
        (e.g. colour:blue), purity, fires and rank, most active first (as `python -m explorer features --json`)."""
        return _scope(ctx, scope).features(block or None)

    ctx.apis.append((features, "features"))


# --------------------------------------------------------------------------- handlers
def _scope(ctx: AppContext, scope: Microscope | None) -> Microscope:
    if scope is None:
        raise InputError("model", say("sae.no_saes"), ctx.model.name)
    return scope


def on_show(ctx: AppContext, ui: UI, scope, block, feature, prompt, seed):
    # one feature: top pictures with heat maps, label and purity, activation per step (no docstring: it would become
    # the /feature API's description)
    scope = _scope(ctx, scope)
    feature = scope.saes.check_feature(block, as_int(feature))
    prompt = prompt or ""
    recipe = validate(recipe_defaults(ctx.model, prompt or "a circle", seed=as_int(seed)), ctx.config)
    view = feature_view(ctx.model, scope, block, feature, prompt or None, recipe.seed)
    probes = scope.record["probe"]["images"]
    note = say("sae.view_note", feature=feature, block=block, label=view.label, purity=view.purity,
               top=len(scope.entry(block, feature)["top"]), fires=view.fires, probes=probes) if view.label else \
        say("sae.unlabelled", feature=feature, block=block, fires=view.fires, probes=probes)
    return {ui.pictures: list(zip(view.pictures, view.captions)), ui.trace: trace_figure(view), ui.status: note}


def trace_figure(view) -> go.Figure:
    steps = list(range(1, len(view.peak) + 1))
    figure = go.Figure([go.Scatter(x=steps, y=view.peak, mode="lines+markers", name=say("sae.peak")),
                        go.Scatter(x=steps, y=view.mean, mode="lines", name=say("sae.mean"))])
    # the title in two lines, left-aligned, a little smaller: one line ran past the plot's right edge (German, 1280 px)
    title = say("sae.trace_title_lines", feature=view.feature, prompt=view.prompt, seed=view.seed)
    figure.update_layout(title=dict(text=title, x=0.01, xanchor="left", font=dict(size=14)),
                         xaxis_title=say("sae.step_axis"), yaxis_title=say("sae.activation_axis"),
                         height=320, margin=dict(l=40, r=10, t=60, b=40))
    return figure


def on_paint(ctx: AppContext, ui: UI, scope, block, feature, prompt, seed, box, strength, steps_from, steps_to):
    # the prompt's image with the feature painted into the box (no docstring: the /paint API's description)
    scope = _scope(ctx, scope)
    feature = scope.saes.check_feature(block, as_int(feature))
    recipe = validate(recipe_defaults(ctx.model, prompt, seed=as_int(seed)), ctx.config)
    paint = Paint(block, feature, parse_box(box), strength, as_int(steps_from), as_int(steps_to))
    generation = paint_generate(ctx.model, recipe, paint, scope.saes, watch=False, config=ctx.config)
    note = say("sae.paint_note", feature=feature, block=block, label=scope.entry(block, feature)["label"] or "-",
               box=box, strength=float(strength), steps_from=paint.steps_from,
               steps_to=recipe.steps if paint.steps_to is None else paint.steps_to)
    return {ui.painted: generation.image, ui.paint_status: note}
