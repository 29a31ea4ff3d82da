"""The Inside tab (p29b's stub: p29a's inside_tab.py, with its "Features" sub-tab, takes its place and mounts the
"Lens" sub-tab the same way: `with gr.Tab(t("inside.lens.tab"), id="inside-lens"): inside_lens.build(ctx, path)`)."""
from __future__ import annotations

import gradio as gr

from explorer.ui import inside_lens
from explorer.ui.context import AppContext
from explorer.ui.i18n import t


def build(ctx: AppContext) -> None:
    with gr.Tab(t("inside.tab"), id="inside"):
        with gr.Tabs() as inner:
            with gr.Tab(t("inside.lens.tab"), id="inside-lens"):
                inside_lens.build(ctx, [(ctx.tabs, "inside"), (inner, "inside-lens")])
