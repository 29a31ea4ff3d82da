"""The lesson: the source essays' walk through diffusion as chapters a teacher reads out and shows live."""
