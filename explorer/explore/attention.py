"""Word to region: generate a recipe with its cross-attention maps, labelled by the prompt's tokens.

The maps come from generation.attention (DAAM-style, Tang et al. 2023); this module picks the
rows a person can read (the prompt, the negative prompt) and labels them with the tokenizer's view
of each prompt. Maps are offered for plain prompts: in an arithmetic mix or a walk frame the
positions of the sequence hold several prompts' tokens at once, so no word sits at a position.
"""
from __future__ import annotations

from dataclasses import dataclass

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.attention import TokenMaps, token_maps
from explorer.generation.generate import Generation, generate
from explorer.generation.recipe import Recipe
from explorer.text import encoding

HALVES = ("prompt", "negative")


@dataclass
class Attention:
    """A generation with its maps, by token, for the prompt and (with guidance) the negative prompt."""

    generation: Generation
    prompt: TokenMaps
    negative: TokenMaps | None          # None without classifier-free guidance (guidance <= 1)

    def half(self, name: str) -> TokenMaps:
        if name not in HALVES:
            raise InputError("half", f"one of {', '.join(HALVES)}", name)
        if name == "negative" and self.negative is None:
            raise InputError("half", "prompt (guidance <= 1 runs no negative half)", name)
        return self.prompt if name == "prompt" else self.negative


def check_plain(recipe: Recipe) -> Recipe:
    """Maps are labelled by words only for plain prompts (see the module docstring)."""
    if recipe.expression or recipe.blend is not None or recipe.walk is not None:
        raise InputError("recipe", "a plain prompt (attention maps are labelled by its words)",
                         "an expression, blend or walk frame",
                         hint="In a mix, each position of the sequence holds several prompts' tokens at once")
    return recipe


def attend(model, recipe: Recipe, *, on_step=None, cancel=None, watch: bool = True,
           config: ExplorerConfig | None = None) -> Attention:
    """Generate the recipe with step previews and cross-attention maps, labelled by its tokens."""
    # 1. validate (generate checks the rest) and 2. generate with capture
    check_plain(recipe)
    result = generate(model, recipe, on_step=on_step, cancel=cancel, watch=watch, config=config, attention=True)
    # 3. label each row with its prompt's tokens
    maps = result.attention
    prompt = token_maps(maps, encoding.tokens(model, recipe.prompt), "prompt")
    negative = None
    if "negative" in maps.rows:
        report = encoding.tokens(model, recipe.negative_prompt) if recipe.negative_prompt.strip() else None
        negative = token_maps(maps, report, "negative")
    return Attention(result, prompt, negative)
