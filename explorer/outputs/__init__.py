"""Stage 4 — outputs: files never overwritten, PNGs with their recipes, GIFs, contact sheets, MP4s."""
