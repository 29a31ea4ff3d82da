"""The Inside tab's "Lens": the prompt's picture from every layer of the text encoder, in a row (Diffusion Lens).

In the event layer's pattern (explorer.ui.events): `layout` builds the view's content (the Inside tab mounts it as
its sub-tab "Lens": `inside_lens.build(ctx)` inside it) and returns its components named (`LensUI`), the handler at
module level takes the inputs' values and returns {component: value}, `bind` wires it and registers the /lens
endpoint (its JSON result is lens.json's content: `layers`, a list of {layer, image}, the last layer last). The
pictures come from explorer.inside.lens; each lens is saved into a folder of its own in outputs/.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from explorer.generation.recipe import recipe_defaults
from explorer.inside.lens import lens, save_lens
from explorer.messages import say
from explorer.ui.components import Number, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.files import served
from explorer.ui.i18n import t
from explorer.ui.pieces import GenerationSettings, explain, generation_settings, result_gallery, status_line


LENS_COLUMNS = 10         # pictures per row of the gallery


@dataclass
class LensUI:
    """The view's components by name (layout's result)."""

    prompt: gr.Textbox
    seed: gr.Number
    settings: GenerationSettings
    run: gr.Button
    status: gr.Markdown
    row: gr.Gallery
    layers: gr.JSON


def build(ctx: AppContext, tabs: list | None = None) -> None:
    """The view's content (inside the Inside tab's "Lens" sub-tab) and its events; `tabs`: the tab path that shows
    it, [(gr.Tabs, tab id), ...] from the outer strip inward (the lesson's "show me" opens it)."""
    bind(ctx, layout(ctx), tabs or [])


# --------------------------------------------------------------------------- layout
def layout(ctx: AppContext) -> LensUI:
    explain(t("lens.explain"), t("lens.more"))
    with gr.Row(equal_height=True):         # the button beside the prompt: the pictures' captions above the fold
        prompt = Textbox(label=t("common.prompt"), value=ctx.examples.prompt, lines=1, elem_id="lens-prompt", scale=4)
        seed = Number(label=t("common.seed"), value=0, info=t("common.seed.info"), scale=1)
        run = gr.Button(t("lens.run"), variant="primary", elem_id="lens-btn", scale=1)
    settings = generation_settings(ctx)
    status = status_line("lens-status")
    # LENS_COLUMNS columns however few the pictures (gradio's fit_columns stretched miniworld's five to 240 px each,
    # their captions below the fold of a 1280 x 720 window; ten: about 110 px)
    row = result_gallery(t("lens.row"), "lens-row", columns=LENS_COLUMNS, fit_columns=False, object_fit="contain")
    with gr.Accordion(t("lens.json"), open=False):
        layers = gr.JSON(label=t("lens.json"), elem_id="lens-json")
    return LensUI(prompt=prompt, seed=seed, settings=settings, run=run, status=status, row=row, layers=layers)


# --------------------------------------------------------------------------- events
def bind(ctx: AppContext, ui: LensUI, tabs: list) -> None:
    ctx.listen(ui.run.click, partial(on_lens, ctx, ui), [ui.prompt, ui.seed, *ui.settings.inputs()],
               [ui.row, ui.layers, ui.status], status=ui.status, api_name="lens", concurrency_id="model",
               view=View("lens", dict(prompt=ui.prompt, seed=ui.seed), tabs, result="lens-row"))


# --------------------------------------------------------------------------- handlers
def on_lens(ctx: AppContext, ui: LensUI, prompt, seed, negative, steps, guidance, size, scheduler,
            request: gr.Request, progress=gr.Progress()):
    """The prompt's picture from every layer of the text encoder (Diffusion Lens), one batched call, one seed: a
    gallery of the pictures (captions: their layers) and lens.json's content, {"layers": [{"layer", "image"}, ...]}
    (image: the picture's file name), the last layer last: its picture is the ordinary generation."""
    recipe = recipe_defaults(ctx.model, prompt, negative_prompt=negative or "", seed=as_int(seed), steps=as_int(steps),
                             guidance=guidance, width=as_int(size), height=as_int(size), scheduler=scheduler)
    total = recipe.steps if isinstance(recipe.steps, int) else 1
    progress((0, total), desc=say("lens.progress", i=0, n=total))
    stop = ctx.stop_event(request)
    stop.clear()
    result = lens(ctx.model, recipe, config=ctx.config, cancel=stop,
                  after_step=lambda i: progress((i + 1, total), desc=say("lens.progress", i=i + 1, n=total)))
    if result.cancelled:
        return {ui.row: [], ui.layers: None, ui.status: say("lens.stopped")}
    paths = save_lens(result, new_folder(ctx.config.outputs_dir, recipe.seed), "outputs_dir")
    record = result.to_json([p.name for p in paths[:-1]])
    last = len(result.layers) - 1
    row = [(ctx.publish(served(path), request), caption(layer, k == last))
           for k, (path, layer) in enumerate(zip(paths, result.layers))]
    return {ui.row: row, ui.layers: record,
            ui.status: say("lens.done", n=len(row), seed=recipe.seed)}


def caption(layer, last: bool) -> str:
    """A picture's caption: its layer (and each encoder's, where SDXL reads two), the last one named as the output."""
    if last:
        return say("lens.caption_last", layer=layer.layer)
    if len(set(layer.encoder_layers)) > 1:
        return say("lens.caption_xl", layer=layer.layer, first=layer.encoder_layers[0], second=layer.encoder_layers[1])
    return say("lens.caption", layer=layer.layer)


def new_folder(outputs: Path | str, seed: int) -> Path:
    """A new folder outputs/<date>/NNNNN-lens-<seed>/ (never an existing one: nothing a user made is overwritten)."""
    day = Path(outputs) / _dt.date.today().isoformat()
    day.mkdir(parents=True, exist_ok=True)
    for counter in range(1, 1_000_000):
        folder = day / f"{counter:05d}-lens-{seed}"
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise RuntimeError(f"no free folder name left in {day}")
