"""An independent judge of miniature-world images: pixels in, colour/shape/size/position out.

No learned model is involved. The background is the median border colour; the shape is the
largest connected region that differs from it; colour is the palette entry nearest to the
region's median RGB; shape is the outline (drawn by the world's own renderer into the region's
bounding box) that overlaps the region best (intersection over union); size is the bounding box
side against the midpoint of the two sizes; position is the nearest of the five anchors.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from explorer.world.scenes import COLOURS, POSITIONS, SHAPES, SIZES, shape_mask

FOREGROUND_DISTANCE = 60.0           # RGB distance from the background that counts as shape
MIN_AREA = 12                        # pixels; smaller regions are noise, not a shape
SIZE_THRESHOLD = sum(SIZES.values()) / 2   # bounding-box side between "small" and "large"


@dataclass(frozen=True)
class Reading:
    """What the oracle sees in one image (None fields: no shape found)."""

    colour: str | None
    shape: str | None
    size: str | None
    position: str | None
    rgb: tuple[float, float, float] | None   # median colour of the shape's pixels
    iou: float                               # overlap with the best-matching outline, in [0, 1]
    area: int                                # shape pixels

    def agrees(self, **expected: str | None) -> bool:
        """Whether every given attribute (None: not checked) is read as expected."""
        return all(v is None or getattr(self, k) == v for k, v in expected.items())


def foreground(image: np.ndarray) -> np.ndarray:
    """Bool (H, W): the largest connected region whose colour is far from the border's median."""
    pixels = image.astype(np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    mask = np.linalg.norm(pixels - background, axis=-1) > FOREGROUND_DISTANCE
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = ndimage.sum(mask, labels, index=range(1, count + 1))
    return labels == (1 + int(np.argmax(sizes)))


def nearest_colour(rgb: np.ndarray) -> str:
    """The palette colour nearest to an RGB triple (Euclidean distance in RGB)."""
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], np.float32)
    return names[int(np.argmin(np.linalg.norm(palette - rgb, axis=1)))]


def best_shape(mask: np.ndarray) -> tuple[str, float]:
    """The world shape whose outline, fitted to the mask's bounding box, has the highest IoU."""
    ys, xs = np.nonzero(mask)
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    side = ((xs.max() - xs.min() + 1) + (ys.max() - ys.min() + 1)) / 2
    scores = {}
    for shape in SHAPES:
        outline = shape_mask(shape, cx, cy, side, size=mask.shape[0]) > 0.5
        scores[shape] = (outline & mask).sum() / max(1, (outline | mask).sum())
    shape = max(scores, key=scores.get)
    return shape, float(scores[shape])


def read(image: np.ndarray) -> Reading:
    """Classify one image (H, W, 3) uint8 of the miniature world."""
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image: expected a square (H, W, 3) array, received shape {image.shape}")
    mask = foreground(image)
    area = int(mask.sum())
    if area < MIN_AREA:
        return Reading(None, None, None, None, None, 0.0, area)
    rgb = np.median(image[mask].astype(np.float32), axis=0)
    shape, iou = best_shape(mask)
    ys, xs = np.nonzero(mask)
    scale = 64 / image.shape[0]                              # anchors and sizes are in 64x64 pixels
    side = ((xs.max() - xs.min() + 1) + (ys.max() - ys.min() + 1)) / 2 * scale
    centre = np.array([(xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2]) * scale
    position = min(POSITIONS, key=lambda p: np.linalg.norm(centre - np.array(POSITIONS[p])))
    size = "small" if side < SIZE_THRESHOLD else "large"
    return Reading(nearest_colour(rgb), shape, size, position, tuple(float(v) for v in rgb), iou, area)


def hue_toward(rgb: tuple[float, float, float] | None, target: str = "blue") -> float:
    """1 at the target colour's hue, 0 at the opposite hue (circular hue distance); nan without a shape."""
    if rgb is None:
        return float("nan")
    hue = colorsys.rgb_to_hsv(*(np.asarray(rgb) / 255.0))[0]
    goal = colorsys.rgb_to_hsv(*(np.asarray(COLOURS[target]) / 255.0))[0]
    distance = abs(hue - goal) % 1.0
    return 1.0 - 2.0 * min(distance, 1.0 - distance)
