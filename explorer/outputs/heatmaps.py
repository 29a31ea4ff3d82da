"""Attention maps as pictures: heatmaps over the image, per-step strips, and attention.json.

A map is stretched between its own minimum (dark) and maximum (bright): the colours show where a
token drew more or less attention, not how much, and are not comparable between maps. A nearly
flat map (see generation.attention.FLAT) is stretched too, so views say beside it that it is flat.
Overlays blend the heat over the image, so the picture stays readable.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

# "inferno"-like colour stops (matplotlib's inferno at 0, 0.25, 0.5, 0.75, 1)
STOPS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float32)
CELL = 96                  # pixels per map in a grid of steps


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) -> uint8 RGB (..., 3) along STOPS."""
    x = np.clip(values, 0, 1) * (len(STOPS) - 1)
    low = np.floor(x).astype(int).clip(0, len(STOPS) - 2)
    frac = (x - low)[..., None]
    return (STOPS[low] * (1 - frac) + STOPS[low + 1] * frac).round().astype(np.uint8)


def normalized(attention: np.ndarray) -> np.ndarray:
    """A map stretched to [0, 1] between its minimum and maximum (a constant map becomes zeros)."""
    if not attention.size:
        return attention
    low, high = float(attention.min()), float(attention.max())
    return (attention - low) / (high - low) if high > low else np.zeros_like(attention)


def heat(attention: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """A map (h, w) as a colour image of `size` (width, height), smoothly upsampled."""
    grey = Image.fromarray((normalized(attention) * 255).round().astype(np.uint8)).resize(size, Image.BILINEAR)
    return Image.fromarray(colormap(np.asarray(grey, np.float32) / 255))


def overlay(image: Image.Image, attention: np.ndarray, alpha: float = 0.6) -> Image.Image:
    """The map's heat over a darkened copy of the image."""
    base = image.convert("RGB")
    return Image.blend(base, heat(attention, base.size), alpha)


def grid(rows: list[list[np.ndarray]], row_labels: list[str], cell: int = CELL) -> Image.Image:
    """One strip per row (a token), labelled on the left: rows x steps."""
    label_width = 110
    height = cell * len(rows)
    width = label_width + cell * max((len(r) for r in rows), default=1)
    out = Image.new("RGB", (width, max(height, 1)), "white")
    draw = ImageDraw.Draw(out)
    for r, (maps, label) in enumerate(zip(rows, row_labels)):
        draw.text((4, r * cell + cell // 2 - 6), label[:16], fill="black")
        for c, m in enumerate(maps):
            out.paste(heat(m, (cell, cell)), (label_width + c * cell, r * cell))
    return out


def attention_json(tokens: list[str], kinds: list[str], maps: np.ndarray, notes: list[str]) -> dict:
    """The content of attention.json: token strings in order and one 2-D list per token (aggregated over steps)."""
    return {"tokens": tokens, "kinds": kinds,
            "maps": [np.round(m.astype(np.float64), 6).tolist() for m in maps],
            "grid": list(maps.shape[1:]), "notes": notes}


