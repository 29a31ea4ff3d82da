"""Exports of a denoising run: animated GIF, contact sheet PNG, MP4."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

LABEL_HEIGHT = 14          # pixels of caption under each contact-sheet cell


def _upscale(frame: np.ndarray, size: int) -> Image.Image:
    image = Image.fromarray(frame)
    if image.width < size:
        image = image.resize((size, size * image.height // image.width), Image.NEAREST)
    return image


def steps_gif(frames: list[np.ndarray], path: Path | str, size: int = 256, ms_per_frame: int = 120,
              hold_last_ms: int = 1200) -> Path:
    """An animated GIF of the frames (upscaled with nearest neighbour), the last frame held."""
    if not frames:
        raise ValueError("steps_gif needs at least one frame")
    images = [_upscale(f, size).convert("P", palette=Image.ADAPTIVE) for f in frames]
    durations = [ms_per_frame] * (len(images) - 1) + [hold_last_ms]
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0)
    return path


def contact_sheet(rows: list[tuple[str, list[np.ndarray]]], captions: list[str], cell: int = 96) -> Image.Image:
    """A grid: one row per named sequence (e.g. x_t and x0), one column per step, captions under columns."""
    columns = max(len(frames) for _, frames in rows)
    label_width = 40
    sheet = Image.new("RGB", (label_width + columns * cell, len(rows) * (cell + LABEL_HEIGHT)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (name, frames) in enumerate(rows):
        top = r * (cell + LABEL_HEIGHT)
        draw.text((4, top + cell // 2 - 6), name, fill="black")
        for c, frame in enumerate(frames):
            sheet.paste(Image.fromarray(frame).resize((cell, cell), Image.NEAREST), (label_width + c * cell, top))
            if c < len(captions):
                draw.text((label_width + c * cell + 2, top + cell + 1), captions[c], fill="black")
    return sheet


def frames_mp4(frames: list[np.ndarray], path: Path | str, fps: int = 8, size: int = 256) -> Path:
    """An H.264 MP4 through imageio's ffmpeg binary (imageio-ffmpeg)."""
    import imageio.v2 as imageio

    path = Path(path)
    size -= size % 16
    with imageio.get_writer(path, fps=fps, codec="libx264", quality=8, macro_block_size=16) as writer:
        for frame in frames:
            writer.append_data(np.asarray(Image.fromarray(frame).resize((size, size), Image.LANCZOS)))
    return path
