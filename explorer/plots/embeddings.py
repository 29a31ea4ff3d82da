"""Figures for the embedding views: per-token norms and the norm "spike" of prompt arithmetic."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.messages import say
from explorer.plots.steps import LAYOUT

KIND_COLORS = {"start": "#7f7f7f", "word": "#4c72b0", "end": "#dd8452", "pad": "#c7c7c7"}


def token_norms_figure(labels: list[str], kinds: list[str], input_norms: list[float],
                       output_norms: list[float], second_output_norms: list[float] | None = None,
                       output_name: str | None = None) -> go.Figure:
    """Bars per token position: |token embedding| before the transformer and |hidden state| after it.

    With `second_output_norms` (SDXL's text_encoder_2) a second bar per token, beside the first encoder's.
    `output_name`: the bars' legend where "what the UNet attends to" would not be true (FLUX reads only CLIP's pooled
    vector).
    """
    x = list(range(len(labels)))
    colors = [KIND_COLORS.get(k, "#4c72b0") for k in kinds]
    second = [] if second_output_norms is None else [
        go.Bar(x=x, y=second_output_norms, name=say("plots.norms.output_2"), marker_color="#8172b3", opacity=0.7,
               hovertemplate=say("plots.norms.hover_output_2"))]
    fig = go.Figure(second + [
        go.Bar(x=x, y=output_norms, name=output_name or (say("plots.norms.output") if second_output_norms is None
               else say("plots.norms.output_1")), marker_color=colors,
               customdata=list(zip(labels, kinds)),
               hovertemplate=say("plots.norms.hover_output")),
        go.Scatter(x=x, y=input_norms, name=say("plots.norms.input"), mode="lines+markers", yaxis="y2",
                   line=dict(color="#55a868"), customdata=labels,
                   hovertemplate=say("plots.norms.hover_input")),
    ])
    layout = {**LAYOUT, "margin": {**LAYOUT["margin"], "t": 95}} if second else LAYOUT    # room for a 3-entry legend
    fig.update_layout(**layout, title=say("plots.norms.title"),
                      xaxis=dict(title=say("plots.norms.x"), tickmode="array", tickvals=x,
                                 ticktext=[_short(label) for label in labels], tickangle=-60),
                      yaxis=dict(title=say("plots.norms.y")),
                      yaxis2=dict(title=say("plots.norms.y2"), overlaying="y", side="right", showgrid=False),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
    return fig


def arithmetic_norms_figure(result_norms: list[float], raw_norms: list[float], ingredient_norms: list[float],
                            where: str, last: int | None = None) -> go.Figure:
    """Per-token norm of the raw sum, the renormalised result and the ingredients' mean: the "spike".
    `where`: the sequence the norms are of, a keyed message (plots.arithmetic.conditioning, .token_embeddings)."""
    n = last + 1 if last is not None else len(result_norms)
    x = list(range(n))
    fig = go.Figure([
        go.Scatter(x=x, y=raw_norms[:n], name=say("plots.arithmetic.raw"), mode="lines+markers", line=dict(color="#c44e52")),
        go.Scatter(x=x, y=ingredient_norms[:n], name=say("plots.arithmetic.mean"), mode="lines",
                   line=dict(color="#7f7f7f", dash="dash")),
        go.Scatter(x=x, y=result_norms[:n], name=say("plots.arithmetic.used"), mode="lines", line=dict(color="#4c72b0")),
    ])
    fig.update_layout(**LAYOUT, title=say("plots.arithmetic.title", where=where),
                      xaxis=dict(title=say("plots.norms.x_start"), dtick=1), yaxis_title=say("plots.arithmetic.y"),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
    return fig


def _short(label: str, width: int = 10) -> str:
    label = label.replace("</w>", "·").replace("<|startoftext|>", "START").replace("<|endoftext|>", "END")
    return label if len(label) <= width else label[:width - 1] + "…"


def flow_token_norms_figure(clip: go.Figure, labels: list[str], kinds: list[str], input_norms: list[float],
                            output_norms: list[float]) -> go.Figure:
    """CLIP's norm figure (token_norms_figure) above, T5's pieces below at their own positions (SD3, FLUX): the
    two tokenizers cut a prompt differently and pad to different limits, so they share no x axis."""
    fig = make_subplots(rows=2, cols=1, vertical_spacing=0.22, specs=[[{"secondary_y": True}]] * 2)
    for trace in clip.data:
        fig.add_trace(trace, row=1, col=1, secondary_y=trace.yaxis == "y2")
    x = list(range(len(labels)))
    fig.add_trace(go.Bar(x=x, y=output_norms, name=say("plots.norms.t5_output"),
                         marker_color=[KIND_COLORS.get(k, "#4c72b0") for k in kinds],
                         customdata=list(zip(labels, kinds)), hovertemplate=say("plots.norms.hover_output")),
                  row=2, col=1)
    fig.add_trace(go.Scatter(x=x, y=input_norms, name=say("plots.norms.t5_input"), mode="lines+markers",
                             line=dict(color="#937860"), customdata=labels,
                             hovertemplate=say("plots.norms.hover_input")), row=2, col=1, secondary_y=True)
    fig.update_layout(**{**LAYOUT, "margin": {**LAYOUT["margin"], "t": 110}, "height": 640},
                      title=say("plots.norms.t5_title"), legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
    fig.update_xaxes(clip.layout.xaxis, row=1, col=1)
    fig.update_xaxes(title=say("plots.norms.t5_x"), tickmode="array", tickvals=x,
                     ticktext=[_short(label) for label in labels], tickangle=-60, row=2, col=1)
    for row in (1, 2):
        fig.update_yaxes(title=say("plots.norms.y"), row=row, col=1)
        fig.update_yaxes(title=say("plots.norms.y2"), showgrid=False, row=row, col=1, secondary_y=True)
    return fig
