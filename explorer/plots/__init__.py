"""Stage 7 — plots: arrays and results in, plotly Figures out; the UI decides where they go."""
