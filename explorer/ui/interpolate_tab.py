"""The Interpolate tab: walk between prompts (conditioning) or seeds (initial noise) and watch the picture flip."""
from __future__ import annotations

import json
import re

import gradio as gr

from explorer.errors import InputError
from explorer.explore.curves import response_curves
from explorer.explore.walks import METHODS, SCHEDULES, export_walk, interpolate, save_frames
from explorer.generation.batches import default_batch_size
from explorer.generation.recipe import SEED_MAX, recipe_defaults
from explorer.models.presets import SCHEDULERS
from explorer.models.vision import load_vision, vision_status
from explorer.plots.walks import response_figure
from explorer.ui.common import (AppContext, Checkbox, Code, Dropdown, File, Image, Radio, Slider, Textbox, as_int,
                                View, explain, guard, served, words_flag)
from explorer.ui.i18n import t


def parse_seeds(text) -> list[int]:
    """'3 7, 11' -> [3, 7, 11]; anything that is not an integer in [0, 2^32) is refused."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = str(int(text)) if float(text).is_integer() else str(text)
    parts = [p for p in re.split(r"[\s,;]+", str(text or "").strip()) if p]
    if not parts:
        raise InputError("seeds", "one or more integers in [0, 2^32), separated by spaces", text)
    seeds = []
    for part in parts:
        if not re.fullmatch(r"\d+", part) or int(part) >= SEED_MAX:
            raise InputError("seeds", "integers in [0, 2^32), separated by spaces or commas", part)
        seeds.append(int(part))
    return seeds


def parse_prompts(text) -> list[str]:
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def build(ctx: AppContext) -> None:
    preset, cfg, model = ctx.model.preset, ctx.config, ctx.model
    with gr.Tab(t("interpolate.tab"), id="interpolate"):
        explain(t("interpolate.explain"), t("interpolate.more"))
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                prompts = Textbox(label=t("interpolate.prompts"), field="prompts", lines=3,
                                     value="\n".join(ctx.examples.walk),
                                     elem_id="walk-prompts")
                seeds = Textbox(label=t("interpolate.seeds"), value="0", elem_id="walk-seeds",
                                   info=t("interpolate.seeds.info"))
                with gr.Row():
                    run = gr.Button(t("interpolate.run"), variant="primary", elem_id="walk-btn")
                    stop = gr.Button(t("common.stop"), variant="stop", elem_id="walk-stop")
                status = gr.Markdown(t("common.ready"), elem_classes=["status"], elem_id="walk-status")
                with gr.Row():
                    frames = Slider(2, cfg.max_frames, value=8, step=1, label=t("interpolate.frames"), field="frames",
                                       info=t("interpolate.frames.info", max_frames=cfg.max_frames))
                    batch = Slider(1, cfg.max_batch, step=1, label=t("common.batch_size"), field="batch_size",
                                      value=default_batch_size(model, preset.size, preset.size, cfg),
                                      info=t("interpolate.batch.info"))
                with gr.Row():
                    method = Radio(list(METHODS), value="slerp", label=t("interpolate.method"), field="method")
                    schedule = Radio(list(SCHEDULES), value="linear", label=t("interpolate.schedule"),
                                     field="schedule")
                with gr.Accordion(t("common.generation_settings"), open=False):
                    negative = Textbox(label=t("common.negative_prompt"), lines=1, value="")
                    steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label=t("common.steps"))
                    guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5,
                                         label=t("common.guidance_scale"), field="guidance")
                    size = Slider(cfg.min_size, cfg.max_size, value=preset.size, step=8, label=t("common.size"))
                    scheduler = Dropdown(list(SCHEDULERS), value=preset.scheduler, label=t("common.scheduler"))
                use_clip = Checkbox(label=t("interpolate.use_clip"), field="use_clip", value=False,
                                       info=vision_status(model))
            with gr.Column(scale=3, min_width=400):
                film = gr.Gallery(label=t("interpolate.film"), columns=8, height="auto",
                                  format="png", elem_id="walk-film", elem_classes=["steps"])
                with gr.Row():
                    gif = Image(label=t("interpolate.gif"), type="filepath", height=220)
                    mp4 = gr.Video(label=t("interpolate.mp4"), height=220)
                curve = gr.Plot(label=t("interpolate.curve"))
                with gr.Accordion(t("interpolate.downloads"), open=False):
                    frame_recipe = Code(label=t("interpolate.frame_recipe"), language="json", lines=6)
                    files = File(label=t("interpolate.files"),
                                    file_count="multiple")
                    recipes_state = gr.JSON(label=t("interpolate.recipes"), value=[], height=200)

    @guard
    def on_walk(prompts_text, seeds_text, frames, batch, method, schedule, negative, steps, guidance, size,
                scheduler, use_clip, request: gr.Request, progress=gr.Progress()):
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
            progress(len(saved) / max(1, len(saved) + 1), desc=f"{len(saved)} frames")
            yield ([served(p) for p in saved], gr.skip(), gr.skip(), gr.skip(), f"Rendering… {len(saved)} frames done",
                   gr.skip(), gr.skip())
        walk = item
        # 3. film, recipes and the response curve
        out = export_walk(walk, cfg.outputs_dir)
        vision = load_vision(model, progress) if use_clip else None
        curves = response_curves(model, walk, vision)
        done = walk.done
        note = (f"Stopped: {len(done)} of {len(walk.frames)} frames finished and saved." if walk.cancelled else
                f"Done: {walk.kind}, {len(done)} frames in batches of {walk.batch_size}.")
        flips = "; ".join(f"{name} flips at {', '.join(f'{x:.2f}' for x in xs) or '—'}"
                          for name, xs in curves.flips.items())
        if use_clip and vision is None:
            note += " " + vision_status(model)
        note += (f" {flips}." if flips else "") + (" " + " ".join(curves.notes) if curves.notes else "")
        note += deadline.note() + " Every frame is saved with its recipe (the downloads below)." + \
            (f" {out['mp4_error']}" if "mp4_error" in out else "") + words_flag(model, ends)
        recipes = [f.recipe.to_dict() for f in done]
        gallery = [(served(f.path), f"{f.position:.2f}") for f in done]
        yield (gallery, served(out["gif"]) if "gif" in out else None, served(out["mp4"]) if "mp4" in out else None,
               response_figure(curves.positions, curves.measures, curves.ends, curves.flips), note,
               [served(f.path) for f in done] + [served(v) for k, v in out.items() if k != "mp4_error"], recipes)

    def on_stop(request: gr.Request):
        ctx.stop_event(request).set()
        return "Stopping after the current batch… finished frames are kept."

    def on_select(recipes, evt: gr.SelectData):
        if not recipes or evt.index is None or evt.index >= len(recipes):
            return gr.skip()
        return json.dumps(recipes[evt.index], indent=2, ensure_ascii=False)

    inputs = [prompts, seeds, frames, batch, method, schedule, negative, steps, guidance, size, scheduler, use_clip]
    ctx.listen(run.click, on_walk, inputs, [film, gif, mp4, curve, status, files, recipes_state], status=status,
           api_name="interpolate", concurrency_id="model",
           view=View("interpolate", dict(prompts=prompts, seeds=seeds, frames=frames), [(ctx.tabs, "interpolate")],
                     result="walk-film"))
    ctx.listen(stop.click, on_stop, None, status, status=status, api_name="stop_walk", queue=False)
    film.select(on_select, recipes_state, frame_recipe, api_visibility="private")

