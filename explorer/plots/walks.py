"""Figures for walks, searches and the bias probe: arrays in, plotly Figures out."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.messages import catalogue, say

# Ends are drawn in neutral tones first: a walk "a red circle" -> "a blue circle" (the offline example)
# should not show the red prompt's curve in blue and the blue prompt's in orange.
PALETTE = ["#343a40", "#1098ad", "#c2255c", "#5c940d", "#e8590c", "#862e9c", "#4f46e5", "#868e96"]
ATTRIBUTE = "plots.bias.attribute."      # the probe's attribute names the examples use ("colour"), in each language


def response_figure(positions: np.ndarray, measures: dict[str, np.ndarray], ends: list[str],
                    flips: dict[str, list[float]] | None = None) -> go.Figure:
    """One panel per measure: similarity (frames x ends) along the walk, flips as dashed lines."""
    flips = flips or {}
    names = list(measures) or [say("plots.walks.no_frames")]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[say("plots.walks.panel", measure=n) for n in names])
    for row, name in enumerate(names, 1):
        sim = measures.get(name)
        if sim is None:
            continue
        for j, label in enumerate(ends[:sim.shape[1]]):
            fig.add_trace(go.Scatter(x=positions, y=sim[:, j], mode="lines+markers", name=label,
                                     legendgroup=label, showlegend=row == 1,
                                     line=dict(color=PALETTE[j % len(PALETTE)]), marker=dict(size=5),
                                     hovertemplate=say("plots.walks.hover", end=label)), row=row, col=1)
        for x in flips.get(name, []):
            fig.add_vline(x=x, line=dict(color="#868e96", dash="dash", width=1), row=row, col=1)
            fig.add_annotation(x=x, y=0.0, yref=f"y{'' if row == 1 else row} domain", text=say("plots.walks.flip"),
                               showarrow=False, font=dict(size=14, color="#495057"), yanchor="bottom",
                               xanchor="left")
    fig.update_xaxes(title_text=say("plots.walks.x"), row=len(names), col=1)
    fig.update_layout(height=170 + 150 * len(names), margin=dict(l=50, r=20, t=70, b=40),
                      legend=dict(orientation="h", y=-0.12 - 0.02 * len(names)), template="plotly_white")
    return fig


def bias_figure(attribute: str, labels: list[str], counts: dict[str, list[int]],
                intervals: dict[str, list[tuple[float, float]]] | None = None, n: int | None = None) -> go.Figure:
    """Grouped bars: for each label, how many images of each prompt CLIP assigned to it (95% intervals)."""
    fig = go.Figure()
    for i, (prompt, row) in enumerate(counts.items()):
        error = None
        if intervals and n:
            lows = [row[j] - intervals[prompt][j][0] * n for j in range(len(row))]
            highs = [intervals[prompt][j][1] * n - row[j] for j in range(len(row))]
            error = dict(type="data", symmetric=False, array=highs, arrayminus=lows, color="#495057")
        fig.add_trace(go.Bar(x=labels, y=row, name=prompt, marker_color=PALETTE[i % len(PALETTE)],
                             error_y=error, text=row, textposition="inside", insidetextanchor="start",
                             hovertemplate=say("plots.bias.hover", prompt=prompt)))
    fig.update_layout(barmode="group", title=say("plots.bias.title_n", attribute=_attribute(attribute), n=n) if n else
                      say("plots.bias.title", attribute=_attribute(attribute)), yaxis_title=say("plots.images"), height=320, margin=dict(l=50, r=20, t=50, b=40),
                      template="plotly_white", legend=dict(orientation="h", y=-0.2))
    return fig


def bias_panel(attributes: dict[str, list[str]], counts: dict[str, dict[str, list[int]]],
               intervals: dict[str, dict[str, list[tuple[float, float]]]], n: int) -> go.Figure:
    """All attributes' grouped bar charts stacked in one figure (one panel per attribute)."""
    names = list(attributes)
    fig = make_subplots(rows=len(names), cols=1, vertical_spacing=0.18 / max(1, len(names) - 1) if len(names) > 1
                        else 0.1, subplot_titles=[say("plots.bias.panel", attribute=_attribute(a), n=n) for a in names])
    for row, name in enumerate(names, 1):
        for trace in bias_figure(name, attributes[name], counts.get(name, {}), intervals.get(name), n).data:
            trace.showlegend = row == 1
            fig.add_trace(trace, row=row, col=1)
        fig.update_yaxes(title_text=say("plots.images"), range=[0, n * 1.1], row=row, col=1)
    fig.update_layout(barmode="group", height=120 + 260 * len(names), margin=dict(l=50, r=20, t=70, b=40),
                      template="plotly_white", legend=dict(orientation="h", y=-0.08))
    return fig


def _attribute(name: str):
    """An attribute's name in a title: keyed where the catalogue knows it (the examples' "colour"), else as typed."""
    return say(ATTRIBUTE + name) if ATTRIBUTE + name in catalogue("en") else name
