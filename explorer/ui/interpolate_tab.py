"""The Interpolate tab: walk between prompts (conditioning) or seeds (initial noise) and watch the picture flip.

A tab in the event layer's pattern (explorer.ui.events): `layout` builds the components and returns them named
(`UI`), the handlers at module level take the inputs' values and return {component: value}, `bind` wires them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import partial

import gradio as gr

from explorer.errors import InputError
from explorer.explore.curves import response_curves
from explorer.explore.walks import METHODS, SCHEDULES, export_walk, interpolate, save_frames
from explorer.generation.batches import default_batch_size
from explorer.generation.recipe import SEED_MAX, recipe_defaults
from explorer.messages import joined, say
from explorer.models.vision import load_vision, vision_status
from explorer.plots.walks import response_figure
from explorer.ui.components import Checkbox, Code, File, Image, Radio, Slider, Textbox, as_int
from explorer.ui.context import AppContext, View
from explorer.ui.files import served
from explorer.ui.i18n import t
from explorer.ui.pieces import GenerationSettings, explain, generation_settings, result_gallery, status_line, words_flag


def parse_seeds(text) -> list[int]:
    """'3 7, 11' -> [3, 7, 11]; anything that is not an integer in [0, 2^32) is refused."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = str(int(text)) if float(text).is_integer() else str(text)
    parts = [p for p in re.split(r"[\s,;]+", str(text or "").strip()) if p]
    if not parts:
        raise InputError("seeds", say("interpolate.allowed.seeds"), text)
    seeds = []
    for part in parts:
        if not re.fullmatch(r"\d+", part) or int(part) >= SEED_MAX:
            raise InputError("seeds", say("interpolate.allowed.seed_each"), part)
        seeds.append(int(part))
    return seeds


def parse_prompts(text) -> list[str]:
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


@dataclass
class UI:
    """The tab's components by name (layout's result)."""

    prompts: gr.Textbox
    seeds: gr.Textbox
    run: gr.Button
    stop: gr.Button
    status: gr.Markdown
    frames: gr.Slider
    batch: gr.Slider
    method: gr.Radio
    schedule: gr.Radio
    settings: GenerationSettings
    use_clip: gr.Checkbox
    film: gr.Gallery
    gif: gr.Image
    mp4: gr.Video
    curve: gr.Plot
    frame_recipe: gr.Code
    files: gr.File
    recipes: gr.JSON

    def walk_inputs(self) -> list:
        return [self.prompts, self.seeds, self.frames, self.batch, self.method, self.schedule,
                *self.settings.inputs(), self.use_clip]

    def walk_outputs(self) -> list:
        return [self.film, self.gif, self.mp4, self.curve, self.status, self.files, self.recipes]


def build(ctx: AppContext) -> None:
    bind(ctx, layout(ctx))


def layout(ctx: AppContext) -> UI:
    with gr.Tab(t("interpolate.tab"), id="interpolate"):
        explain(t("interpolate.explain"), t("interpolate.more"))
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                controls = _controls(ctx)
            with gr.Column(scale=3, min_width=400):
                results = _results()
    return UI(**controls, **results)


def _controls(ctx: AppContext) -> dict:
    cfg, model = ctx.config, ctx.model
    prompts = Textbox(label=t("interpolate.prompts"), field="prompts", lines=3, value="\n".join(ctx.examples.walk),
                      elem_id="walk-prompts")
    seeds = Textbox(label=t("interpolate.seeds"), value="0", elem_id="walk-seeds", info=t("interpolate.seeds.info"))
    with gr.Row():
        run = gr.Button(t("interpolate.run"), variant="primary", elem_id="walk-btn")
        stop = gr.Button(t("common.stop"), variant="stop", elem_id="walk-stop")
    status = status_line("walk-status", t("common.ready"))
    with gr.Row():
        frames = Slider(2, cfg.max_frames, value=8, step=1, label=t("interpolate.frames"), field="frames",
                        info=t("interpolate.frames.info", max_frames=cfg.max_frames))
        batch = Slider(1, cfg.max_batch, step=1, label=t("common.batch_size"), field="batch_size",
                       value=default_batch_size(model, model.preset.size, model.preset.size, cfg),
                       info=t("interpolate.batch.info"))
    with gr.Row():
        method = Radio(list(METHODS), value="slerp", label=t("interpolate.method"), field="method")
        schedule = Radio(list(SCHEDULES), value="linear", label=t("interpolate.schedule"), field="schedule")
    settings = generation_settings(ctx)
    use_clip = Checkbox(label=t("interpolate.use_clip"), field="use_clip", value=False, info=vision_status(model))
    return dict(prompts=prompts, seeds=seeds, run=run, stop=stop, status=status, frames=frames, batch=batch,
                method=method, schedule=schedule, settings=settings, use_clip=use_clip)


def _results() -> dict:
    film = result_gallery(t("interpolate.film"), "walk-film")
    with gr.Row():
        gif = Image(label=t("interpolate.gif"), type="filepath", height=220)
        mp4 = gr.Video(label=t("interpolate.mp4"), height=220)
    curve = gr.Plot(label=t("interpolate.curve"))
    with gr.Accordion(t("interpolate.downloads"), open=False):
        frame_recipe = Code(label=t("interpolate.frame_recipe"), language="json", lines=6)
        files = File(label=t("interpolate.files"), file_count="multiple")
        recipes = gr.JSON(label=t("interpolate.recipes"), value=[], height=200)
    return dict(film=film, gif=gif, mp4=mp4, curve=curve, frame_recipe=frame_recipe, files=files, recipes=recipes)


def bind(ctx: AppContext, ui: UI) -> None:
    ctx.listen(ui.run.click, partial(on_walk, ctx, ui), ui.walk_inputs(), ui.walk_outputs(), status=ui.status,
               api_name="interpolate", concurrency_id="model",
               view=View("interpolate", dict(prompts=ui.prompts, seeds=ui.seeds, frames=ui.frames),
                         [(ctx.tabs, "interpolate")], result="walk-film"))
    ctx.listen(ui.stop.click, partial(on_stop, ctx, ui), None, ui.status, status=ui.status, api_name="stop_walk",
               queue=False)
    ui.film.select(on_select, ui.recipes, ui.frame_recipe, api_visibility="private")


# --------------------------------------------------------------------------- handlers
def on_walk(ctx: AppContext, ui: UI, prompts_text, seeds_text, frames, batch, method, schedule, negative, steps,
            guidance, size, scheduler, use_clip, request: gr.Request, progress=gr.Progress()):
    # the walk's frames streamed to the film as each batch is saved, then the film with its positions, the GIF and
    # MP4, the response curve and every recipe (no docstring: it would become the /interpolate API's description)
    model, cfg = ctx.model, ctx.config
    # 1. inputs, checked before the model starts
    ends, seed_list = parse_prompts(prompts_text), parse_seeds(seeds_text)
    base = recipe_defaults(model, ends[0] if ends else "", negative_prompt=negative or "", seed=seed_list[0],
                           steps=as_int(steps), guidance=guidance, width=as_int(size), height=as_int(size),
                           scheduler=scheduler)

    # 2. walk in a worker thread; each finished batch is saved at once and streamed
    def job(report):
        return interpolate(model, base, ends, seed_list, as_int(frames), method=method, schedule=schedule,
                           batch_size=as_int(batch), cancel=ctx.stop_event(request), config=cfg,
                           on_frames=lambda fs: report(save_frames(fs, cfg.outputs_dir)))

    saved = []
    stream, deadline = ctx.stream(job, "walk", request)
    for kind, item in stream:
        if kind == "done":
            break
        saved += item
        progress(len(saved) / max(1, len(saved) + 1), desc=say("interpolate.progress.frames", n=len(saved)))
        yield {ui.film: [served(p) for p in saved], ui.status: say("interpolate.rendering", n=len(saved))}
    # 3. film, recipes and the response curve
    yield _walked(ctx, ui, item, ends, use_clip, deadline, progress)


def _walked(ctx: AppContext, ui: UI, walk, ends: list[str], use_clip: bool, deadline, progress) -> dict:
    """A finished (or stopped) walk's outputs: its film, GIF, MP4, response curve, note, files and recipes."""
    model = ctx.model
    out = export_walk(walk, ctx.config.outputs_dir)
    vision = load_vision(model, progress) if use_clip else None
    curves = response_curves(model, walk, vision)
    done = walk.done
    return {ui.film: [(served(f.path), say("interpolate.position", x=f.position)) for f in done],
            ui.gif: served(out["gif"]) if "gif" in out else None,
            ui.mp4: served(out["mp4"]) if "mp4" in out else None,
            ui.curve: response_figure(curves.positions, curves.measures, curves.ends, curves.flips),
            ui.status: _walk_note(walk, curves, out, use_clip and vision is None, deadline, model, ends),
            ui.files: [served(f.path) for f in done] + [served(v) for k, v in out.items() if k != "mp4_error"],
            ui.recipes: [f.recipe.to_dict() for f in done]}


def _walk_note(walk, curves, out: dict, no_vision: bool, deadline, model, ends: list[str]) -> str:
    """The status line of a finished walk: done or stopped, where each measure flips, the notes (keyed)."""
    done = len(walk.done)
    note = say("interpolate.stopped", done=done, total=len(walk.frames)) if walk.cancelled else \
        say("interpolate.done", kind=walk.kind, n=done, batch=walk.batch_size)
    flips = joined("; ", [say("interpolate.flips", name=name,
                              at=joined(", ", [say("interpolate.position", x=x) for x in xs]) if xs else "—")
                          for name, xs in curves.flips.items()])
    if no_vision:
        note += " " + vision_status(model)
    note += (" " + flips + "." if flips else "") + (" " + joined(" ", curves.notes) if curves.notes else "")
    note += deadline.note() + " " + say("interpolate.saved") + \
        (" " + out["mp4_error"] if "mp4_error" in out else "") + words_flag(model, ends)
    return note


def on_stop(ctx: AppContext, ui: UI, request: gr.Request):
    ctx.stop_event(request).set()
    return {ui.status: say("interpolate.stopping")}


def on_select(recipes, evt: gr.SelectData):
    """The recipe of the frame clicked in the film (bound without the event layer: one output, no text)."""
    if not recipes or evt.index is None or evt.index >= len(recipes):
        return gr.skip()
    return json.dumps(recipes[evt.index], indent=2, ensure_ascii=False)
