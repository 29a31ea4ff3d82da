"""Word to region: generate a recipe with its cross-attention maps, labelled by the prompt's tokens.

The maps come from generation.attention (DAAM-style, Tang et al. 2023); this module picks the
rows a person can read (the prompt, the negative prompt; for Composable Diffusion's AND each term's
own UNet pass) and labels them with the tokenizer's view of each prompt. Maps are offered for plain
prompts and AND: in an arithmetic mix, a lerp/slerp blend or a walk frame the positions of the
sequence hold several prompts' tokens at once, so no word sits at a position.
"""
from __future__ import annotations

from dataclasses import dataclass

from explorer.config import ExplorerConfig
from explorer.errors import InputError
from explorer.generation.attention import TokenMaps, token_maps
from explorer.generation.generate import Generation, generate
from explorer.generation.joint_attention import joint_token_maps, shown_report
from explorer.generation.recipe import Recipe
from explorer.messages import say
from explorer.text import encoding

@dataclass
class Attention:
    """A generation with its maps by token: one TokenMaps per UNet row ("prompt" or "prompt 1", "prompt 2"
    for AND, and "negative" with guidance)."""

    generation: Generation
    halves: dict[str, TokenMaps]

    @property
    def prompt(self) -> TokenMaps:
        """The prompt's maps (AND: the first term's)."""
        return self.halves.get("prompt") or self.halves["prompt 1"]

    def half(self, name: str) -> TokenMaps:
        if name not in self.halves:
            raise InputError("half", say("explore.attention.half", names=", ".join(self.halves)), name)
        return self.halves[name]


def labelled(recipe: Recipe) -> bool:
    """Whether the recipe's rows hold one prompt each: a plain prompt or Composable Diffusion's AND."""
    blend_and = recipe.blend is not None and recipe.blend.operator == "and"
    return not recipe.expression and recipe.walk is None and (recipe.blend is None or blend_and)


def check_labelled(recipe: Recipe) -> Recipe:
    """Maps are labelled by words only where each row holds one prompt (see the module docstring)."""
    if not labelled(recipe):
        raise InputError("recipe", say("explore.attention.labelled"),
                         say("explore.attention.received_mix"),
                         hint=say("explore.attention.mix_hint"))
    return recipe


def label_rows(model, recipe: Recipe, maps) -> dict[str, TokenMaps]:
    """Each UNet row's maps labelled with the tokens of the prompt that row saw."""
    terms = [recipe.blend.a, recipe.blend.b] if recipe.blend is not None else [recipe.prompt]
    if model.adapter.flow:           # joint attention: CLIP's tokens on SD3, T5's on FLUX (generation.joint_attention)
        texts = {row: recipe.negative_prompt if row == "negative" else terms[0] for row in maps.rows}
        return {row: joint_token_maps(maps, shown_report(encoding.tokens(model, text) if text.strip() else None,
                                                         model), row) for row, text in texts.items()}
    halves = {}
    for row in maps.rows:
        if row == "negative":
            text = recipe.negative_prompt
            halves[row] = token_maps(maps, encoding.tokens(model, text) if text.strip() else None, row)
        else:
            text = terms[int(row.split()[-1]) - 1] if row != "prompt" else terms[0]
            halves[row] = token_maps(maps, encoding.tokens(model, text), row)
    return halves


def attend(model, recipe: Recipe, *, on_step=None, cancel=None, watch: bool = True,
           config: ExplorerConfig | None = None) -> Attention:
    """Generate the recipe with step previews and cross-attention maps, labelled by its tokens."""
    # 1. validate (generate checks the rest) and 2. generate with capture
    check_labelled(recipe)
    result = generate(model, recipe, on_step=on_step, cancel=cancel, watch=watch, config=config, attention=True)
    # 3. label each row with its prompt's tokens
    return Attention(result, label_rows(model, recipe, result.attention))
