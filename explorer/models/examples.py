"""The example inputs every view starts with, per model family: what that model can actually draw.

Stable Diffusion's examples are the field's classics ("van Gogh" + astronaut, king - man + woman,
"a photo of a CEO"); the miniature world only knows its grammar (explorer/world/scenes.py), so
on it the same views start from its shapes, colours and planted bias, whose answers are known.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from explorer.messages import say


@dataclass(frozen=True)
class Figure:
    """A whole recipe from the literature, offered as a Generate example."""

    caption: str
    prompt: str
    seed: int
    steps: int
    guidance: float
    size: int

    def row(self) -> list:
        """[prompt, seed, steps, guidance, width, height] for the Generate tab's example table."""
        return [self.prompt, self.seed, self.steps, self.guidance, self.size, self.size]


@dataclass(frozen=True)
class Examples:
    """Starting values of the text fields, one set per model family."""

    prompt: str                          # Generate
    expression: str                      # Embeddings: prompt arithmetic
    expressions: tuple[str, ...]         # its example list
    blend: tuple[str, str]               # Embeddings: blend comparator A and B
    tokens: str                          # Embeddings: token inspector
    walk: tuple[str, str]                # Interpolate: the two ends
    query: str                           # Search
    probe: tuple[str, ...]               # Search: bias probe prompts
    attributes: str                      # Search: bias probe attributes
    map_query: str                       # Map: query lines
    poles: tuple[str, str]               # Map: concept axis
    axis_prompt: str                     # Map: the prompt moved along the axis
    figures: tuple[Figure, ...] = ()     # Generate: recipes of the literature's figures, for this model
    swap: tuple[str, str] = ("lighthouse", "fox")   # Generate: a word of `prompt` swapped for another at step k


STABLE_DIFFUSION = Examples(
    prompt="a watercolor painting of a lighthouse at dawn",
    expression='"van gogh" + astronaut',
    expressions=('"van gogh" + astronaut', '0.6 * "a photo of a cat" + 0.4 * "an oil painting"',
                 "king - man + woman", '"Sankt Martin" - "saint martin" + "santa claus"'),
    blend=("van Gogh", "astronaut"),
    tokens="Sankt Martin reitet durch Schnee und Wind",
    walk=("a watercolor painting of a lighthouse", "a photograph of a red fox"),
    query="a watercolor painting of a lighthouse",
    probe=("a photo of a CEO", "a photo of a nurse"),
    attributes="gender: a photo of a man | a photo of a woman\nage: a photo of a young person | "
               "a photo of an old person",
    map_query="a lighthouse at dawn\n= king - man + woman",
    poles=("summer", "winter"),
    axis_prompt="a lighthouse at dawn",
)

MINIWORLD = Examples(
    prompt="a large red circle in the middle",
    expression='"a red circle" - red + blue',
    expressions=('"a red circle" - red + blue', '"a green square" - square + cross',
                 '0.5 * "a red circle" + 0.5 * "a blue square"', '"a purple triangle on the left" - left + right'),
    blend=("a red circle", "a blue square"),
    tokens="a small red circle on the left, a zebra",
    walk=("a large red circle", "a large blue circle"),
    query="a triangle",
    probe=("a triangle", "a circle"),
    attributes="colour: a red shape | an orange shape | a yellow shape | a green shape | a blue shape | "
               "a purple shape",
    map_query="a red circle\n= a red circle - red + blue\na red circle -> a blue square",
    poles=("small", "large"),
    axis_prompt="a red circle",
    swap=("circle", "square"),
)

# The figures of the source essays: SDXL 1.0, seed 0, 768 x 768 (guidance not stated: SDXL's default 5)
SCENES = ("wanderer", "park_avenue", "van_gogh")          # caption keys: examples.<scene>, examples.<scene>_turbo
SDXL_FIGURES = (
    Figure(say("examples.wanderer", steps=18), "Wanderer above the sea of fog", 0, 18, 5.0, 768),
    Figure(say("examples.park_avenue", steps=20), "Park Avenue and 34th Street NYC", 0, 20, 5.0, 768),
    Figure(say("examples.van_gogh", steps=15), "van gogh self-portrait in an astronaut suit in the style of van gogh",
           0, 15, 5.0, 768),
)
SDXL = replace(STABLE_DIFFUSION, prompt=SDXL_FIGURES[0].prompt, figures=SDXL_FIGURES, swap=("fog", "flowers"))
# SDXL-Turbo: the same scenes in one step at its native 512 x 512, without guidance
SDXL_TURBO = replace(SDXL, figures=tuple(replace(f, caption=say(f"examples.{scene}_turbo"), steps=1, guidance=0.0,
                                                 size=512) for scene, f in zip(SCENES, SDXL_FIGURES)))

BY_NAME = {"stable-diffusion": STABLE_DIFFUSION, "miniworld": MINIWORLD, "sdxl": SDXL, "sdxl-turbo": SDXL_TURBO}


def examples_for(model) -> Examples:
    """The examples that suit a loaded model (its family adapter names them; turbo presets get their own)."""
    key = model.adapter.examples
    if model.preset.max_steps is not None and f"{key}-turbo" in BY_NAME:
        return BY_NAME[f"{key}-turbo"]
    return BY_NAME[key]
