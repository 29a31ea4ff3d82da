"""The Generate tab's "when does a word still matter?": a word of the prompt swapped for another at step k, a row of k.

Part of the Generate tab (explorer.ui.generate_tab), in the event layer's pattern (explorer.ui.events): `layout`
builds the accordion and returns its components named (`SwapsUI`), the handlers at module level take the inputs'
values and return {component: value}, `bind` wires them and registers the /swap_row endpoint. The row is
explorer.explore.swaps (A1111's prompt editing `[old:new:k]`); the tab's own fields give the rest of the recipe.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from explorer.explore.swaps import MAX_SWAPS, swap_prompt, swap_row, swap_steps
from explorer.generation.watch import settle_step
from explorer.messages import say
from explorer.outputs.png import save_png
from explorer.ui.components import Slider, Textbox, as_int
from explorer.ui.context import AppContext
from explorer.ui.files import served
from explorer.ui.i18n import t
from explorer.ui.pieces import explain, result_gallery, status_line

STEP_COLUMNS = 10          # the chosen image's steps: 25 steps fit in three rows


@dataclass
class SwapsUI:
    """The accordion's components by name (layout's result)."""

    old: gr.Textbox
    new: gr.Textbox
    count: gr.Slider
    run: gr.Button
    status: gr.Markdown
    row: gr.Gallery
    steps: gr.Gallery
    kept: gr.State                   # each image's step pictures: [[link, caption], ...] per image of the row


# --------------------------------------------------------------------------- layout
def layout(ctx: AppContext) -> SwapsUI:
    with gr.Accordion(t("swaps.title"), open=False, elem_id="swaps"):
        explain(t("swaps.explain"), t("swaps.more"))
        with gr.Row():
            old = Textbox(label=t("swaps.old"), field="swap_from", value=ctx.examples.swap[0], info=t("swaps.old.info"))
            new = Textbox(label=t("swaps.new"), field="swap_to", value=ctx.examples.swap[1], info=t("swaps.new.info"))
            count = Slider(2, MAX_SWAPS, value=6, step=1, label=t("swaps.count"), field="swaps")
        run = gr.Button(t("swaps.run"), elem_id="swaps-btn")
        status = status_line("swaps-status")
        row = result_gallery(t("swaps.row"), "swaps-row", columns=MAX_SWAPS // 2, object_fit="contain")
        steps = result_gallery(t("swaps.steps"), "swaps-steps", columns=STEP_COLUMNS, object_fit="contain")
        kept = gr.State([])
    return SwapsUI(old=old, new=new, count=count, run=run, status=status, row=row, steps=steps, kept=kept)


# --------------------------------------------------------------------------- events
def bind(ctx: AppContext, ui: SwapsUI, fields: list, recipe_of) -> None:
    """fields: the Generate tab's recipe fields (its FIELD_NAMES' order); recipe_of(ctx, **values) -> Recipe."""
    ctx.listen(ui.run.click, partial(on_swaps, ctx, ui, recipe_of), [*fields, ui.old, ui.new, ui.count],
               [ui.row, ui.steps, ui.kept, ui.status], status=ui.status, api_name="swap_row", concurrency_id="model")
    ui.row.select(on_pick, ui.kept, ui.steps, api_visibility="private")


# --------------------------------------------------------------------------- handlers
def on_swaps(ctx: AppContext, ui: SwapsUI, recipe_of, prompt, negative, seed, steps, guidance, width, height,
             scheduler, preview, swap_from, swap_to, swaps, request: gr.Request, progress=gr.Progress()):
    # the row streamed image by image, each saved with its recipe; the first image's steps shown (no docstring: it
    # would become the /swap_row API's description)
    recipe = recipe_of(ctx, None, prompt=prompt, negative=negative, seed=seed, randomize=False, steps=steps,
                       guidance=guidance, width=width, height=height, scheduler=scheduler, preview=preview)
    count = as_int(swaps)
    swap_prompt(recipe.prompt, swap_from, swap_to, 0)           # refused here, before the model starts
    total = len(swap_steps(recipe.steps, count))                # k from 0 to steps - 1: fewer at few steps
    stream, deadline = ctx.stream(lambda report: swap_row(ctx.model, recipe, swap_from, swap_to, count,
                                                          config=ctx.config, cancel=ctx.stop_event(request),
                                                          on_swap=report), "swaps", request)
    row, kept = [], []
    for kind, item in stream:
        if kind == "done":
            break
        path = save_png(item.generation.image, item.generation.recipe, ctx.config.outputs_dir)
        settle = settle_step([s.change for s in item.generation.steps])
        caption = say("generate.swaps.caption", k=item.k, new=swap_to.strip(), n=item.new_steps, steps=recipe.steps)
        row.append((ctx.publish(served(path), request), caption))
        kept.append([[ctx.publish(s.x0, request), str(s.index + 1) + (" ·" if s.index == settle else "")]
                     for s in item.generation.steps])
        progress((len(row), total), desc=say("generate.swaps.progress", i=len(row), n=total))
        yield {ui.row: list(row), ui.steps: kept[0], ui.kept: kept,
               ui.status: say("generate.swaps.running", i=len(row), n=total)}
    done = say("generate.swaps.done", n=len(row), old=swap_from.strip(), new=swap_to.strip()) \
        if len(row) == total else say("generate.swaps.stopped", n=len(row), total=total)
    yield {ui.row: row, ui.steps: kept[0] if kept else [], ui.kept: kept, ui.status: done + deadline.note()}


def on_pick(kept, evt: gr.SelectData):
    """The clicked image's steps (bound without the event layer: one output, captions made when the row was)."""
    if not kept or evt.index is None or evt.index >= len(kept):
        return gr.skip()
    return [tuple(item) for item in kept[evt.index]]
