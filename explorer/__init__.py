"""latent-explorer: open the latent and embedding space of text-to-image diffusion models.

The library imports without gradio; `explorer.ui` is the only module that needs it.
"""
from explorer.config import ExplorerConfig
from explorer.errors import InputError, ModelLoadError

__all__ = ["ExplorerConfig", "InputError", "ModelLoadError"]
__version__ = "0.1.0"
