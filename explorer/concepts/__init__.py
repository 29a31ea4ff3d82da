"""Stage 5 — concepts: vocabularies, their cached index, nearest concepts, concept axes and 2-D maps."""
