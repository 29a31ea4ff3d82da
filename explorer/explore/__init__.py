"""Stage 6 — explore: walks between prompts and seeds, blend comparisons, generative search, the bias probe."""
