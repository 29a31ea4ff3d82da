"""Stage 3 — generation: the typed recipe, the one path to the denoiser's inputs, noise, watching, batches."""
from explorer.generation.generate import Generation, generate
from explorer.generation.recipe import Recipe, recipe_defaults, validate

__all__ = ["Generation", "Recipe", "generate", "recipe_defaults", "validate"]
