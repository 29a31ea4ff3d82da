"""The nearest concepts to a prompt or to the result of prompt arithmetic (pooled text space, cosine)."""
from __future__ import annotations

from explorer.concepts.index import ConceptIndex
from explorer.messages import joined
from explorer.text.arithmetic import pooled_readback


def nearest_concepts(model, text: str, k: int = 10, vocabulary: str = "concepts", *, kind: str = "expression",
                     space: str = "conditioning", exclude_terms: bool = False, config=None):
    """The k concepts nearest (cosine, pooled space) to a prompt or an expression's result.

    Returns (expression, pooled (1, d), [Neighbor(label, category, score)], index note).
    """
    expression, pooled = pooled_readback(model, text, kind, space)
    index = ConceptIndex.for_model(model, vocabulary, config=config)
    exclude = expression.phrases if exclude_terms else ()
    note = joined(" ", [part for part in (index.note, model.adapter.readback_note) if part])
    return expression, pooled, index.nearest(pooled[0].numpy(), k, exclude=exclude), note
