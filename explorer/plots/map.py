"""Figures of the concept map and of concept axes: arrays in, plotly Figures out."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from explorer.concepts.projection import PROJECTION_NOTES
from explorer.concepts.vocabularies import category_label
from explorer.messages import say

# one colour per concept category (cycled), and one marker style per kind of query point
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#72b7b2", "#eeca3b", "#ff9da6",
           "#79706e", "#bab0ac", "#e45756", "#8cd17d"]
QUERY_STYLE = {
    "prompt": dict(symbol="star", size=20, color="#d62728", name=say("plots.map.prompt")),
    "result": dict(symbol="diamond", size=17, color="#111111", name=say("plots.map.result")),
    "ingredient": dict(symbol="circle-open", size=14, color="#111111", name=say("plots.map.ingredient")),
    "path": dict(symbol="circle", size=9, color="#6a3d9a", name=say("plots.map.path_name")),
    "image": dict(symbol="square", size=14, color="#17becf", name=say("plots.map.image")),
}
MAP_HEIGHT = 600
# text on a projector: at least 14 px (issue 26); a label is drawn only where it overlaps no other label and no query
# marker, judged on a plot area of about MAP_PLOT_PX (measured at 1280 px wide pages: the map's column less its
# legend, its height less the margins; a wider page only spreads the labels further apart)
LABEL_PX = 14
MAX_LABELS = 12
MAP_PLOT_PX = (480, 520)
CHAR_PX = 0.58 * LABEL_PX          # a label's width per character (proportional font, mixed case)
EDGE_SIDE = 0.25                   # a query label within this share of the span from an edge runs inward
EDGE_ROOM = 0.12                   # the axes reach this share of the data's span beyond it: room for edge labels


def concept_map_figure(result, title: str | None = None) -> go.Figure:
    """Scatter of a MapResult: concepts coloured by category, query points highlighted, arrows and paths."""
    fig = go.Figure()
    coords, labels, kinds = result.coords, result.labels, result.kinds
    # 1. concepts, one trace per category (the legend toggles them)
    concept_rows = [i for i, k in enumerate(kinds) if k == "concept"]
    categories = list(dict.fromkeys(result.categories[i] for i in concept_rows))
    for c, category in enumerate(categories):
        rows = [i for i in concept_rows if result.categories[i] == category]
        fig.add_trace(go.Scatter(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers", name=category_label(category),
            marker=dict(size=8, color=PALETTE[c % len(PALETTE)], opacity=0.75, line=dict(width=0)),
            customdata=[[labels[i], category, float(result.scores[i])] for i in rows],
            hovertemplate=say("plots.map.hover_concept")))
    # 2. the nearest concepts get text labels where they do not overlap (the rest on hover)
    query_rows = [i for i, k in enumerate(kinds) if k in QUERY_STYLE and k != "path"]
    taken = [_label_box(coords, i, _short(labels[i]), "bottom") for i in query_rows] + \
        [_marker_box(coords, i) for i, k in enumerate(kinds) if k != "concept"]
    nearest = []
    for i in sorted(concept_rows, key=lambda i: -result.scores[i])[:MAX_LABELS]:
        box = _label_box(coords, i, labels[i], "top")
        if not any(_overlap(box, other) for other in taken):
            taken.append(box)
            nearest.append(i)
    if nearest:
        fig.add_trace(go.Scatter(x=coords[nearest, 0], y=coords[nearest, 1], mode="text", showlegend=False,
                                 text=[labels[i] for i in nearest], textposition="top center",
                                 textfont=dict(size=LABEL_PX, color="#333"), hoverinfo="skip"))
    # 3. interpolation paths as lines
    for group, rows in result.paths().items():
        style = QUERY_STYLE["path"]
        fig.add_trace(go.Scatter(
            x=coords[rows, 0], y=coords[rows, 1], mode="lines+markers", name=say("plots.map.path", group=group),
            line=dict(color=style["color"], width=2), marker=dict(size=style["size"], color=style["color"]),
            customdata=[[labels[i], "path", 1.0] for i in rows],
            hovertemplate=say("plots.map.hover_query", name=say("plots.map.interpolation"))))
    # 4. the other query points, one trace per kind, labelled once (an ingredient that is also the prompt, at the
    #    same place, is not labelled twice), below the point or above it where the place below is taken
    placed = []
    for kind, style in QUERY_STYLE.items():
        rows = [i for i, k in enumerate(kinds) if k == kind]
        if not rows or kind == "path":
            continue
        texts, positions = _query_labels(coords, labels, rows, placed)
        fig.add_trace(go.Scatter(
            x=coords[rows, 0], y=coords[rows, 1], mode="markers+text", name=style["name"],
            text=texts, textposition=positions,
            textfont=dict(size=LABEL_PX, color=style["color"]), cliponaxis=False,
            marker=dict(symbol=style["symbol"], size=style["size"], color=style["color"],
                        line=dict(width=1.5, color="white" if kind != "ingredient" else style["color"])),
            customdata=[[labels[i], kind, 1.0] for i in rows],
            hovertemplate=say("plots.map.hover_query", name=style["name"])))
    # 5. arrows from each ingredient to its expression's result
    for start, end in result.links():
        fig.add_annotation(x=coords[end, 0], y=coords[end, 1], ax=coords[start, 0], ay=coords[start, 1],
                           xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=3,
                           arrowsize=1.2, arrowwidth=1.5, arrowcolor="#555", opacity=0.8, standoff=6)
    method = say("plots.map.umap") if result.method == "umap" else "PCA"
    fig.update_layout(
        template="plotly_white", height=MAP_HEIGHT, margin=dict(l=10, r=10, t=50, b=10),
        title=dict(text=title or say("plots.map.title", n=result.n_concepts, method=method), font=dict(size=LABEL_PX + 2)),
        legend=dict(orientation="v", x=1.01, y=1, font=dict(size=LABEL_PX), itemsizing="constant"),
        hovermode="closest", dragmode="pan", clickmode="event", font=dict(size=LABEL_PX))
    # room for the labels of the outermost points (centred on their point: half a label beyond the data's edge)
    low, high = coords.min(axis=0), coords.max(axis=0)
    pad = np.where(high - low > 0, high - low, 1.0) * EDGE_ROOM
    # (autorange still takes in a point placed on the map later)
    fig.update_xaxes(showticklabels=False, zeroline=False, showgrid=False, title=None,
                     autorangeoptions=dict(include=[float(low[0] - pad[0]), float(high[0] + pad[0])]))
    fig.update_yaxes(showticklabels=False, zeroline=False, showgrid=False, title=None,
                     autorangeoptions=dict(include=[float(low[1] - pad[1]), float(high[1] + pad[1])]))
    fig.layout.meta = {"projection_note": PROJECTION_NOTES[result.method]}
    return fig


def axis_figure(ranking, top: int = 15) -> go.Figure:
    """Horizontal bars: the concepts that lie furthest toward each pole of a concept axis."""
    n = min(top, len(ranking.labels) // 2 or 1)
    rows = list(range(n)) + list(range(len(ranking.labels) - n, len(ranking.labels)))
    rows = sorted(set(rows), key=lambda i: ranking.positions[i])
    positions = np.asarray([ranking.positions[i] for i in rows])
    colors = ["#4c78a8" if p < 0.5 else "#e45756" for p in positions]
    fig = go.Figure(go.Bar(
        y=[ranking.labels[i] for i in rows], x=positions - 0.5, base=0.5, orientation="h", marker_color=colors,
        customdata=[[ranking.labels[i], ranking.categories[i], ranking.positions[i]] for i in rows],
        hovertemplate=say("plots.axis.hover")))
    fig.add_vline(x=0.0, line_dash="dot", line_color="#4c78a8", annotation_text=ranking.pole_a,
                  annotation_position="top")
    fig.add_vline(x=1.0, line_dash="dot", line_color="#e45756", annotation_text=ranking.pole_b,
                  annotation_position="top")
    fig.update_layout(template="plotly_white", height=max(320, 20 * len(rows) + 90), font=dict(size=LABEL_PX),
                      margin=dict(l=10, r=10, t=60, b=40), showlegend=False,
                      title=f"'{_short(ranking.pole_a, 24)}' (0) ↔ '{_short(ranking.pole_b, 24)}' (1)",
                      xaxis_title=say("plots.axis.x"))
    return fig


def warm_plotly() -> None:
    """Import what plotly looks up lazily by drawing one tiny figure, and pandas (call before starting threads).

    plotly checks `sys.modules.get("pandas")`: while another thread (umap's import) is still importing
    pandas, it finds a partially initialised module and fails.
    """
    try:
        import pandas  # noqa: F401
    except ImportError:
        pass
    fig = go.Figure(go.Scatter(x=np.zeros(2), y=np.zeros(2), customdata=[[0], [1]]))
    fig.add_annotation(x=0.0, y=0.0, ax=1.0, ay=1.0, xref="x", yref="y", axref="x", ayref="y")
    fig.to_json()


def _label_box(coords: np.ndarray, row: int, text: str, where: str) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1, in pixels of a MAP_PLOT_PX plot) a label of `text` takes above ("top") or below
    ("bottom") the point `row` of `coords`, as plotly places it, with the data's own ranges."""
    low, high = coords.min(axis=0), coords.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    x = (coords[row, 0] - low[0]) / span[0] * MAP_PLOT_PX[0]
    y = (high[1] - coords[row, 1]) / span[1] * MAP_PLOT_PX[1]          # pixels grow downwards
    width, height = CHAR_PX * len(text), 1.3 * LABEL_PX
    top = y - 6 - height if where == "top" else y + 6
    return x - width / 2, top, x + width / 2, top + height


def _query_labels(coords: np.ndarray, labels: list, rows: list, placed: list) -> tuple[list, list]:
    """Texts and positions of query points' labels: "" for a label already drawn at the same place, above the point
    where the box below is taken by an earlier query label, inward near an edge. `placed` collects the boxes drawn (shared by kinds)."""
    texts, positions = [], []
    for i in rows:
        text = _short(labels[i])
        below, above = _label_box(coords, i, text, "bottom"), _label_box(coords, i, text, "top")
        if any(t == text and _overlap(below, box) for t, box in placed):
            texts.append(""), positions.append("bottom center")
            continue
        where, box = ("top", above) if any(_overlap(below, b) for _, b in placed) else ("bottom", below)
        placed.append((text, box))
        texts.append(text), positions.append(f"{where} {_side(coords, i)}")
    return texts, positions


def _side(coords: np.ndarray, row: int) -> str:
    """Which way a query label runs from its point: inward near the plot's left or right edge (a long expression
    label centred on the rightmost point ran into the legend), centred elsewhere."""
    low, high = coords.min(axis=0), coords.max(axis=0)
    x = (coords[row, 0] - low[0]) / (high[0] - low[0]) if high[0] > low[0] else 0.5
    return "left" if x > 1 - EDGE_SIDE else "right" if x < EDGE_SIDE else "center"


def _marker_box(coords: np.ndarray, row: int, size: float = 20) -> tuple[float, float, float, float]:
    """The box a query point's marker takes (the largest marker's size), in the pixels of `_label_box`."""
    x0, y0, x1, y1 = _label_box(coords, row, "", "top")
    x, y = x0, y1 + 6                                        # the point itself
    return x - size / 2, y - size / 2, x + size / 2, y + size / 2


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _short(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"
