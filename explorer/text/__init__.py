"""Stage 2 — text: tokens, encodings, the prompt-arithmetic language, its evaluation, and vector math."""
