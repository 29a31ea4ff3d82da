"""Pieces several tabs build the same way, built once: the explainer, the status line, the result gallery and the
generation-settings accordion (negative prompt, steps, guidance, size, scheduler)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr

from explorer.models.presets import SCHEDULERS
from explorer.text.known import words_note
from explorer.ui.components import Dropdown, Slider, Textbox
from explorer.ui.i18n import t


def explain(sentence, *more) -> None:
    """One sentence on what a view shows, and an expandable paragraph for more (texts: i18n keys, t(...);
    several parts where one is not static, e.g. what the loaded model says about itself)."""
    gr.Markdown(sentence, elem_classes=["explain"])
    with gr.Accordion(t("common.more"), open=False):
        for part in more:
            gr.Markdown(part)


def status_line(elem_id: str | None = None, value="") -> gr.Markdown:
    """A view's status line beside its button: what ran, and a refusal where an input was not taken
    (explorer.ui.events)."""
    return gr.Markdown(value, elem_classes=["status"], elem_id=elem_id)


def result_gallery(label, elem_id: str | None = None, columns: int = 8, **kwargs) -> gr.Gallery:
    """A gallery of results in PNG (gradio's default webp would drop the recipe in each picture's text chunk)."""
    return gr.Gallery(label=label, columns=columns, height="auto", format="png", elem_id=elem_id,
                      elem_classes=["steps"], **kwargs)


@dataclass
class GenerationSettings:
    """The generation-settings accordion's fields, in the order handlers take them."""

    negative: gr.Textbox
    steps: gr.Slider
    guidance: gr.Slider
    size: gr.Slider
    scheduler: gr.Dropdown
    accordion: gr.Accordion | None = None
    more: object = None                     # the tab's own field built last inside it (generation_settings(more=))

    def inputs(self) -> list:
        """The five fields as an event's inputs: negative prompt, steps, guidance, size, scheduler."""
        return [self.negative, self.steps, self.guidance, self.size, self.scheduler]


def generation_settings(ctx, more: Callable[[], object] | None = None) -> GenerationSettings:
    """The closed accordion of generation settings, with the loaded model's defaults and the config's limits.
    `more()` builds a tab's own field last inside it (the Search tab's batch size), before the accordion closes:
    gradio groups an accordion's fields when it closes, and a field added by re-entering it would get a group of
    its own (the page and the API's block numbering would change). Its component is `settings.more`."""
    preset, cfg = ctx.model.preset, ctx.config
    with gr.Accordion(t("common.generation_settings"), open=False) as accordion:
        negative = Textbox(label=t("common.negative_prompt"), lines=1, value="")
        steps = Slider(1, cfg.max_steps, value=preset.steps, step=1, label=t("common.steps"))
        guidance = Slider(0, cfg.max_guidance, value=preset.guidance, step=0.5, label=t("common.guidance_scale"),
                          field="guidance")
        size = Slider(cfg.min_size, cfg.max_size, value=preset.size, step=8, label=t("common.size"))
        scheduler = Dropdown(list(SCHEDULERS), value=preset.scheduler, label=t("common.scheduler"))
        extra = more() if more is not None else None
    return GenerationSettings(negative, steps, guidance, size, scheduler, accordion, extra)


def words_flag(model, texts) -> str:
    """The words the loaded model does not know (or reads only in pieces), as a flagged line beside a result."""
    note = words_note(model, texts)
    return "\n\n⚑ " + note if note else ""                  # + keeps a keyed note's key (explorer.messages)
