"""Plot functions: arrays in, plotly Figures out; the UI decides where they go."""
from __future__ import annotations

import plotly.graph_objects as go

from explorer.messages import say

LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=50, b=45), height=300,
              font=dict(size=14))


def change_per_step_figure(changes: list[float | None], settle: int | None = None) -> go.Figure:
    """Mean absolute change of the x0 preview from one step to the next, with where it settles."""
    steps = [i + 1 for i, c in enumerate(changes) if c is not None]
    values = [c for c in changes if c is not None]
    fig = go.Figure(go.Scatter(x=steps, y=values, mode="lines+markers", name=say("plots.steps.change"),
                               hovertemplate=say("plots.steps.hover")))
    if settle is not None:
        fig.add_vline(x=settle + 1, line_dash="dash", line_color="#d62728",
                      annotation_text=say("plots.steps.settles", step=settle + 1), annotation_position="top right")
    fig.update_layout(**LAYOUT, title=say("plots.steps.title"),
                      xaxis_title=say("plots.step"), yaxis_title=say("plots.steps.y"))
    fig.update_xaxes(range=[0.5, len(changes) + 0.5])
    return fig
