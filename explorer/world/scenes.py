"""The miniature world: one coloured shape on a plain background, its captions, and its planted bias.

Everything here is plain numpy + PIL and fully determined by a seed, so the ground truth of every
image is known. The renderer is shared with the oracle (`explorer.world.oracle`), which
matches masks against the same shape outlines.

World: 4 shapes x 6 colours x 2 sizes x 5 positions, drawn anti-aliased at 64x64 on light grey.
Planted bias: 75% of triangles are yellow (other shapes take the 6 colours evenly), and the
captions of yellow triangles leave the colour out 60% of the time, so a caption that names a
triangle without a colour shows a yellow one ~92% of the time.

Gaps on purpose: a training set can leave colour-shape combinations out (`held_out`, e.g.
"green triangle"): no image and no caption shows them, though their colour and their shape each
appear with others; whether the model can draw them is measured, and the archive shows the gap.

Paint mixes (`make_paint_mixes`): the same scenes painted between two palette colours, with the two
captions that name those colours; training uses them for conditioning mixup (see explorer/miniworld/train.py).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 64                      # pixels, width and height
SUPERSAMPLE = 4                      # draw at 4x and downsample: anti-aliased edges
BACKGROUND = (240, 240, 240)         # plain light grey

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 40, 40),
    "orange": (245, 135, 20),
    "yellow": (240, 205, 30),
    "green": (40, 160, 60),
    "blue": (40, 90, 215),
    "purple": (140, 60, 190),
}
SHAPES = ("circle", "square", "triangle", "cross")
SIZES: dict[str, int] = {"small": 14, "large": 28}           # bounding-box side in pixels
POSITIONS: dict[str, tuple[int, int]] = {                     # bounding-box centre (x, y)
    "left": (16, 32), "right": (48, 32), "middle": (32, 32), "top": (32, 16), "bottom": (32, 48),
}
JITTER = 2                           # the centre moves up to +-2 px, the side up to +-1 px

# The planted bias (documented in assets/miniworld/README.md).
BIAS_SHAPE = "triangle"
BIAS_COLOUR = "yellow"
BIAS_SHARE = 0.75                    # P(yellow | triangle); the other colours share the rest
BIAS_OMIT_COLOUR = 0.6               # P(caption omits the colour | yellow triangle)
OMIT_COLOUR = 0.15                   # P(caption omits the colour) for every other image
OMIT_SIZE = 0.45                     # P(caption omits the size)
OMIT_POSITION = 0.35                 # P(caption omits the position)
OMIT_SHAPE = 0.06                    # P(caption says "shape" instead of naming it): "a red shape on the left"
BARE_WORD = 0.06                     # P(caption is one attribute word): "red", "circle", "little", "left"

# The caption grammar: words per attribute value, and the phrases a position can take.
SIZE_WORDS: dict[str, tuple[str, ...]] = {"small": ("small", "little"), "large": ("large", "big")}
POSITION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("on the left", "at the left"),
    "right": ("on the right", "at the right"),
    "middle": ("in the middle", "in the centre"),
    "top": ("at the top", "on top"),
    "bottom": ("at the bottom", "on the bottom"),
}
POSITION_SHORT: dict[str, str] = {
    "left": "left side", "right": "right side", "middle": "centre", "top": "top", "bottom": "bottom"}
# Colour-shape combinations the shipped model never saw (assets/miniworld/README.md, "Gaps on purpose").
HELD_OUT: tuple[str, ...] = ("green triangle", "purple circle", "orange square")
FILLER_WORDS = ("a", "an", "the", "on", "in", "at", "side", "shape", "picture", "of", "with", "background",
                "plain", "grey")


@dataclass(frozen=True)
class Scene:
    """The ground truth of one image."""

    shape: str                       # one of SHAPES
    colour: str                      # one of COLOURS
    size: str                        # one of SIZES
    position: str                    # one of POSITIONS
    dx: int = 0                      # centre jitter in pixels, in [-JITTER, JITTER]
    dy: int = 0
    dside: int = 0                   # side jitter in pixels, in [-1, 1]


def vocabulary() -> list[str]:
    """Every word the caption grammar can produce, sorted."""
    words = set(FILLER_WORDS) | set(COLOURS) | set(SHAPES)
    for group in (*SIZE_WORDS.values(), *POSITION_PHRASES.values(), POSITION_SHORT.values()):
        for phrase in group:
            words.update(phrase.split())
    return sorted(words)


def shape_polygon(shape: str, cx: float, cy: float, side: float) -> list[tuple[float, float]] | None:
    """Outline of a shape in its bounding box (None for the circle, drawn as an ellipse)."""
    h = side / 2
    if shape == "circle":
        return None
    if shape == "square":
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":                                   # upright, base = height = side
        return [(cx, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "cross":                                      # a plus sign, arms one third wide
        t = side / 6
        return [(cx - t, cy - h), (cx + t, cy - h), (cx + t, cy - t), (cx + h, cy - t), (cx + h, cy + t),
                (cx + t, cy + t), (cx + t, cy + h), (cx - t, cy + h), (cx - t, cy + t), (cx - h, cy + t),
                (cx - h, cy - t), (cx - t, cy - t)]
    raise ValueError(f"shape: expected one of {', '.join(SHAPES)}, received {shape!r}")


def shape_mask(shape: str, cx: float, cy: float, side: float, size: int = IMAGE_SIZE) -> np.ndarray:
    """Coverage in [0, 1] of a shape on a size x size grid, anti-aliased: (size, size) float32."""
    s = SUPERSAMPLE
    canvas = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(canvas)
    polygon = shape_polygon(shape, cx * s, cy * s, side * s)
    if polygon is None:
        h = side * s / 2
        draw.ellipse([cx * s - h, cy * s - h, cx * s + h, cy * s + h], fill=255)
    else:
        draw.polygon(polygon, fill=255)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def scene_geometry(scene: Scene) -> tuple[float, float, float]:
    """Centre x, centre y and side in pixels of a scene's bounding box."""
    x, y = POSITIONS[scene.position]
    return x + scene.dx, y + scene.dy, SIZES[scene.size] + scene.dside


def render(scene: Scene, paint: np.ndarray | None = None) -> np.ndarray:
    """A scene as an RGB image (IMAGE_SIZE, IMAGE_SIZE, 3) uint8; `paint` (3,) overrides its colour's RGB."""
    cx, cy, side = scene_geometry(scene)
    alpha = shape_mask(scene.shape, cx, cy, side)[..., None]                 # (H, W, 1)
    rgb = np.array(COLOURS[scene.colour] if paint is None else paint, np.float32)
    image = (1 - alpha) * np.array(BACKGROUND, np.float32) + alpha * rgb
    return np.round(image).astype(np.uint8)


def check_held_out(held_out) -> tuple[str, ...]:
    """Held-out combinations as "colour shape" strings, validated: each a palette colour and a shape."""
    held = tuple(held_out)
    for combo in held:
        parts = combo.split() if isinstance(combo, str) else []
        if len(parts) != 2 or parts[0] not in COLOURS or parts[1] not in SHAPES:
            raise ValueError(f"held_out: expected 'colour shape' pairs like 'green triangle' (colours "
                             f"{', '.join(COLOURS)}; shapes {', '.join(SHAPES)}), received {combo!r}")
        if parts == [BIAS_COLOUR, BIAS_SHAPE]:
            raise ValueError(f"held_out: '{combo}' is the planted bias and cannot be held out")
    return held


def allowed_colours(shape: str, held_out: tuple[str, ...] = ()) -> list[str]:
    """The palette colours a shape takes in a training set that holds `held_out` out."""
    return [c for c in COLOURS if f"{c} {shape}" not in held_out]


def sample_scene(rng: np.random.Generator, held_out: tuple[str, ...] = ()) -> Scene:
    """One scene from the world's distribution, with the planted bias, never a held-out combination."""
    shape = SHAPES[rng.integers(len(SHAPES))]
    colours = allowed_colours(shape, held_out)
    if shape == BIAS_SHAPE:
        others = [c for c in colours if c != BIAS_COLOUR]
        colour = BIAS_COLOUR if rng.random() < BIAS_SHARE else others[rng.integers(len(others))]
    else:
        colour = colours[rng.integers(len(colours))]
    size = list(SIZES)[rng.integers(len(SIZES))]
    position = list(POSITIONS)[rng.integers(len(POSITIONS))]
    dx, dy = (int(v) for v in rng.integers(-JITTER, JITTER + 1, size=2))
    return Scene(shape, colour, size, position, dx, dy, int(rng.integers(-1, 2)))


def _article(next_word: str) -> str:
    return "an" if next_word[0] in "aeiou" else "a"


def caption(scene: Scene, rng: np.random.Generator) -> str:
    """A caption from the grammar, in one of several wordings, some attributes left out."""
    if rng.random() < BARE_WORD:                               # "red", "circle", "little", "left"
        words = (scene.colour, scene.shape, SIZE_WORDS[scene.size][0], scene.position)
        return words[rng.integers(len(words))]
    omit_colour = BIAS_OMIT_COLOUR if (scene.shape, scene.colour) == (BIAS_SHAPE, BIAS_COLOUR) else OMIT_COLOUR
    colour = "" if rng.random() < omit_colour else scene.colour
    size = "" if rng.random() < OMIT_SIZE else SIZE_WORDS[scene.size][rng.integers(2)]
    position = "" if rng.random() < OMIT_POSITION else scene.position
    shape = "shape" if rng.random() < OMIT_SHAPE else scene.shape
    noun = " ".join(w for w in (size, colour, shape) if w)
    template = rng.integers(4)
    if template == 0 or not position:                          # "a small red circle on the left"
        text = f"{_article(noun)} {noun}"
        if position:
            text += " " + POSITION_PHRASES[position][rng.integers(2)]
    elif template == 1:                                        # "red circle, left side"
        text = f"{noun}, {POSITION_SHORT[position]}"
    elif template == 2:                                        # "on the left, a small red circle"
        text = f"{POSITION_PHRASES[position][rng.integers(2)]}, {_article(noun)} {noun}"
    else:                                                      # "a picture of a red circle on top"
        text = f"a picture of {_article(noun)} {noun} {POSITION_PHRASES[position][rng.integers(2)]}"
    return text


def full_caption(shape: str, colour: str | None = None, size: str | None = None,
                 position: str | None = None) -> str:
    """The canonical wording for given attributes: "a small red circle on the left"."""
    noun = " ".join(w for w in (size, colour, shape) if w)
    text = f"{_article(noun)} {noun}"
    return f"{text} {POSITION_PHRASES[position][0]}" if position else text


_WORD_TO_ATTRIBUTE: dict[str, tuple[str, str]] = {
    **{c: ("colour", c) for c in COLOURS}, **{s: ("shape", s) for s in SHAPES},
    **{w: ("size", size) for size, words in SIZE_WORDS.items() for w in words},
    "left": ("position", "left"), "right": ("position", "right"), "middle": ("position", "middle"),
    "centre": ("position", "middle"), "top": ("position", "top"), "bottom": ("position", "bottom"),
}


def parse_caption(text: str) -> dict[str, str]:
    """The attributes a caption names: {"colour": "red", "shape": "circle", ...} (absent when left out)."""
    found: dict[str, str] = {}
    for word in text.lower().replace(",", " ").split():
        if word in _WORD_TO_ATTRIBUTE:
            key, value = _WORD_TO_ATTRIBUTE[word]
            found.setdefault(key, value)
    return found


def matches(mentioned: dict[str, str], scene: Scene) -> bool:
    """Whether every attribute a caption names agrees with a scene."""
    return all(getattr(scene, key) == value for key, value in mentioned.items())


@dataclass
class Dataset:
    """A deterministic sample of the world: images, captions and ground truth."""

    images: np.ndarray               # (N, H, W, 3) uint8
    captions: list[str]              # N captions
    scenes: list[Scene]              # N ground truths

    def __len__(self) -> int:
        return len(self.captions)

    def yellow_share(self, shape: str = BIAS_SHAPE, colour: str = BIAS_COLOUR) -> float:
        """Share of `colour` among the images of `shape` (the planted bias, measured)."""
        hits = [s.colour == colour for s in self.scenes if s.shape == shape]
        return float(np.mean(hits)) if hits else 0.0

    def uncoloured_caption_share(self, shape: str = BIAS_SHAPE, colour: str = BIAS_COLOUR) -> float:
        """Share of `colour` among images of `shape` whose caption names no colour."""
        hits = [s.colour == colour for s, c in zip(self.scenes, self.captions)
                if s.shape == shape and not any(w in COLOURS for w in c.replace(",", " ").split())]
        return float(np.mean(hits)) if hits else 0.0


def make_scenes(n: int, seed: int = 0, held_out: tuple[str, ...] = ()) -> tuple[list[Scene], list[str]]:
    """The n scenes and captions of make_dataset(n, seed, held_out), without drawing them (render draws one)."""
    if n < 1:
        raise ValueError(f"n: expected a positive number of images, received {n}")
    held_out = check_held_out(held_out)
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng, held_out) for _ in range(n)]
    captions = [caption(s, rng) for s in scenes]          # drawn after all scenes: captions depend on n
    return scenes, captions


def make_dataset(n: int, seed: int = 0, held_out: tuple[str, ...] = ()) -> Dataset:
    """n scenes with captions and images, the same for the same seed, none of a held-out combination."""
    scenes, captions = make_scenes(n, seed, held_out)
    images = np.stack([render(s) for s in scenes])
    return Dataset(images, captions, scenes)


@dataclass
class PaintMixes:
    """Shapes painted in a mix of two palette colours, for conditioning mixup (Zhang et al. 2018).

    Image i shows its shape in (1 - t_i) * colour_a + t_i * colour_b (RGB), and captions_a[i] and
    captions_b[i] are the same caption naming colour_a and colour_b: trained on the conditioning
    lerp(c(captions_a[i]), c(captions_b[i]), t_i), the model learns that a walk between two
    colour words passes through the paint between them, not a jump from one to the other.
    """

    images: np.ndarray               # (M, H, W, 3) uint8
    captions_a: list[str]            # M captions naming colour a
    captions_b: list[str]            # the same M captions naming colour b
    weights: np.ndarray              # (M,) float32 t in [0, 1): the share of colour b in the paint

    def __len__(self) -> int:
        return len(self.captions_a)


def make_paint_mixes(n: int, seed: int = 0, held_out: tuple[str, ...] = ()) -> PaintMixes:
    """n paint-mix examples, the same for the same seed (scenes drawn as the world draws them).

    Neither end of a mix is a held-out combination: a green-ish triangle would show the gap.
    """
    if n < 1:
        raise ValueError(f"n: expected a positive number of images, received {n}")
    held_out = check_held_out(held_out)
    rng = np.random.default_rng(seed)
    images, captions_a, captions_b, weights = [], [], [], []
    while len(images) < n:
        scene = sample_scene(rng, held_out)
        names = allowed_colours(scene.shape, held_out)
        a, b = (names[i] for i in rng.choice(len(names), size=2, replace=False))
        t = float(rng.random())
        state = rng.bit_generator.state                        # both captions from the same draws
        text_a = caption(replace(scene, colour=a), rng)
        rng.bit_generator.state = state
        text_b = caption(replace(scene, colour=b), rng)
        if parse_caption(text_a).get("colour") != a or parse_caption(text_b).get("colour") != b:
            continue                                           # a caption without its colour teaches no mix
        paint = (1 - t) * np.array(COLOURS[a], np.float32) + t * np.array(COLOURS[b], np.float32)
        images.append(render(scene, paint))
        captions_a.append(text_a)
        captions_b.append(text_b)
        weights.append(t)
    return PaintMixes(np.stack(images), captions_a, captions_b, np.array(weights, np.float32))
