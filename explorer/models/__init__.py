"""Stage 1 — models: presets, loading, the family adapters, preview decoders and CLIP vision models."""
from explorer.models.conditioning import Conditioning
from explorer.models.families import FAMILIES, family_adapter
from explorer.models.loaded import LoadedModel
from explorer.models.loading import load_model, offline_model_name, wrap_pipeline
from explorer.models.presets import DEFAULT_MODEL, PRESETS, SCHEDULERS, Preset, resolve_preset

__all__ = ["Conditioning", "DEFAULT_MODEL", "FAMILIES", "LoadedModel", "PRESETS", "Preset", "SCHEDULERS",
           "family_adapter", "load_model", "offline_model_name", "resolve_preset", "wrap_pipeline"]
