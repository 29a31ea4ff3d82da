"""The archive: existing images beside generated ones, searched in the CLIP image space of the model's family.

sources (where images come from) -> index (embeddings, cache, exact search) -> retrieval (what it answers);
novelty holds the math of "how near is this picture to the archive". No gradio here.
"""
