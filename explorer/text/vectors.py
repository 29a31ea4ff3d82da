"""Pure vector math for embeddings and latents: lerp, slerp, cosine similarity, norm matching.

Every function takes numpy arrays or torch tensors and returns the same kind (numpy in -> numpy
out, torch in -> torch out, on the input's device, in the inputs' floating dtype). `dim` is the
feature axis (or a tuple of axes): for CLIP conditioning (B, 77, 768) `dim=-1` works per token;
for whole latents (B, 4, h, w) pass `dim=(1, 2, 3)` to treat each latent as one vector.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch

from explorer.errors import InputError
from explorer.messages import say

Array = Union[np.ndarray, torch.Tensor]
Dim = Union[int, Sequence[int]]

# Half-precision inputs are computed in float32: cos(theta) near 1 needs more than 11 mantissa bits.
_COMPUTE_DTYPES = (torch.float32, torch.float64)
# Norms below this count as zero vectors (no direction: slerp falls back to lerp, renormalize keeps 0).
TINY_NORM = 1e-12


def lerp(a: Array, b: Array, t: float | Array) -> Array:
    """Linear interpolation (1 - t) * a + t * b; t broadcasts against a and b (frames via t (K, 1, ..))."""
    (ta, tb), tt, finish = _prepare((a, b), t)
    return finish((1 - tt) * ta + tt * tb)


def slerp(a: Array, b: Array, t: float | Array, dim: Dim = -1, eps: float = 1e-6) -> Array:
    """Spherical interpolation along `dim` (Shoemake 1985, "Animating rotation with quaternion curves").

    The angle comes from the normalised vectors and the Shoemake weights are applied to the vectors
    as given, as in the SD community implementation (A. Karpathy's 2022 gist, nateraw/
    stable-diffusion-videos, A1111 variation seeds): unit vectors stay on the unit sphere, and
    vectors of equal norm keep that norm. Where |cos(theta)| > 1 - eps (near-parallel or
    near-antiparallel) or a vector is zero, it falls back to lerp (1 - t) * a + t * b.
    Shapes: a, b (..., D) broadcastable; t a float or broadcastable, e.g. (K, 1, 1, 1) against
    (1, 4, 8, 8) gives K frames (K, 4, 8, 8).
    """
    if not 0 < eps < 1:
        raise InputError("eps", say("vectors.open_unit"), eps)
    (ta, tb), tt, finish = _prepare((a, b), t)
    dims = _dims(dim, ta.ndim, tb.ndim)
    na = torch.linalg.vector_norm(ta, dim=dims, keepdim=True)               # (..., 1)
    nb = torch.linalg.vector_norm(tb, dim=dims, keepdim=True)               # (..., 1)
    dot = (ta * tb).sum(dim=dims, keepdim=True) / (na * nb).clamp_min(TINY_NORM)
    dot = dot.clamp(-1.0, 1.0)                                              # cos(theta), (..., 1)
    fallback = (dot.abs() > 1 - eps) | (na <= TINY_NORM) | (nb <= TINY_NORM)
    # Where the fallback applies use a safe angle (pi/2), so neither values nor gradients hold NaN.
    theta = torch.acos(torch.where(fallback, torch.zeros_like(dot), dot))   # (..., 1), in [0, pi]
    sin_theta = torch.sin(theta)                                            # > 0 (|cos| <= 1 - eps)
    s0 = torch.sin((1 - tt) * theta) / sin_theta                            # (K?, ..., 1)
    s1 = torch.sin(tt * theta) / sin_theta                                  # (K?, ..., 1)
    spherical = s0 * ta + s1 * tb                                           # (K?, ..., D)
    linear = (1 - tt) * ta + tt * tb                                        # correct (unswapped) weights
    return finish(torch.where(fallback, linear, spherical))


def cosine_similarity(a: Array, b: Array, dim: Dim = -1, eps: float = 1e-8) -> Array:
    """Cosine of the angle between a and b along `dim`: a . b / max(|a| |b|, eps); (..., D) -> (...)."""
    (ta, tb), _, finish = _prepare((a, b), None)
    dims = _dims(dim, ta.ndim, tb.ndim)
    denom = torch.linalg.vector_norm(ta, dim=dims) * torch.linalg.vector_norm(tb, dim=dims)
    return finish((ta * tb).sum(dim=dims) / denom.clamp_min(eps))


def renormalize(x: Array, reference_norm: float | Array, dim: Dim = -1) -> Array:
    """Rescale each vector of x along `dim` to the given norm (x / |x| * norm); zero vectors stay zero.

    Undoes the norm "spike" of sums like a - b + c: pass `mean_norm` of the ingredients to give
    each token the ingredients' typical length. Shapes: x (..., D); reference_norm a float,
    (..., 1) (keepdim) or (...) for an int dim.
    """
    (tx,), ref, finish = _prepare((x,), reference_norm)
    dims = _dims(dim, tx.ndim)
    if ref.ndim == tx.ndim - len(dims) and ref.ndim > 0:                    # (...) -> (..., 1)
        for d in sorted(d + tx.ndim for d in dims):
            ref = ref.unsqueeze(d)
    if bool((ref < 0).any()):
        raise InputError("reference_norm", say("vectors.norms"), float(ref.min()))
    norm = torch.linalg.vector_norm(tx, dim=dims, keepdim=True)             # (..., 1)
    return finish(tx / norm.clamp_min(TINY_NORM) * ref)


def mean_norm(vectors: Array | Sequence[Array], weights: Sequence[float] | None = None,
              dim: Dim = -1) -> Array:
    """Weighted mean norm along `dim` of K vectors: sum_k |w_k| |v_k| / sum_k |w_k|; (K, ..., D) -> (..., 1).

    `vectors` is a stacked array (K, ..., D) or a sequence of K arrays (..., D); with `weights`
    (K numbers, e.g. an expression's weights) each ingredient counts by |w_k|, else equally.
    `dim` counts in the shape of one ingredient (..., D).
    """
    stacked = _stack(vectors)                                               # (K, ..., D)
    (tv,), _, finish = _prepare((stacked,), None)
    k = tv.shape[0]
    if weights is None:
        weights = [1.0] * k
    if len(weights) != k:
        raise InputError("weights", say("vectors.weights", k=k), len(weights))
    w = torch.tensor([abs(float(x)) for x in weights], dtype=tv.dtype, device=tv.device)
    if not bool(torch.isfinite(w).all()) or float(w.sum()) <= 0:
        raise InputError("weights", say("vectors.finite_weights"), list(weights))
    dims = _dims(dim, tv.ndim - 1)                                          # negative: skips the K axis
    norms = torch.linalg.vector_norm(tv, dim=dims, keepdim=True)            # (K, ..., 1)
    w = w.reshape((k,) + (1,) * (tv.ndim - 1))                              # (K, 1, ..., 1)
    return finish((w * norms).sum(dim=0) / w.sum())


# --- helpers: one backend (torch) for both kinds of input ---------------------------------------

def _stack(vectors: Array | Sequence[Array]) -> Array:
    """A (K, ..., D) array from a stacked array or a non-empty sequence of same-kind arrays."""
    if isinstance(vectors, (np.ndarray, torch.Tensor)):
        return vectors
    vectors = list(vectors)
    if not vectors:
        raise InputError("vectors", say("vectors.one_array"), say("vectors.empty"))
    if all(isinstance(v, torch.Tensor) for v in vectors):
        return torch.stack(vectors)
    if all(isinstance(v, np.ndarray) for v in vectors):
        return np.stack(vectors)
    raise InputError("vectors", say("vectors.all_same"), [type(v).__name__ for v in vectors])


def _prepare(arrays: tuple[Array, ...], scalar: float | Array | None):
    """Convert inputs to torch in a compute dtype; return (tensors, scalar tensor, finish)."""
    kinds = {type(x).__name__ for x in arrays}
    if all(isinstance(x, torch.Tensor) for x in arrays):
        tensors, is_numpy = list(arrays), False
    elif all(isinstance(x, np.ndarray) for x in arrays):
        tensors, is_numpy = [_from_numpy(x) for x in arrays], True
    else:
        raise InputError("a, b", say("vectors.both_same"), " and ".join(sorted(kinds)))
    float_dtypes = [x.dtype for x in tensors if x.is_floating_point()]
    out_dtype = torch.float64 if is_numpy else torch.get_default_dtype()   # for integer inputs
    if float_dtypes:
        out_dtype = float_dtypes[0]
        for dt in float_dtypes[1:]:
            out_dtype = torch.promote_types(out_dtype, dt)
    compute = out_dtype if out_dtype in _COMPUTE_DTYPES else torch.float32
    device = tensors[0].device
    tensors = [x.to(device=device, dtype=compute) for x in tensors]
    try:
        torch.broadcast_shapes(*(x.shape for x in tensors))
    except RuntimeError:
        raise InputError("b", say("vectors.broadcastable", shape=str(tuple(tensors[0].shape))),
                         tuple(tensors[-1].shape)) from None
    tt = None
    if scalar is not None:
        if isinstance(scalar, np.ndarray):
            scalar = _from_numpy(scalar)
        tt = torch.as_tensor(scalar, dtype=compute, device=device)

    def finish(result: torch.Tensor) -> Array:
        result = result.to(out_dtype)
        return result.detach().cpu().numpy() if is_numpy else result

    return tensors, tt, finish


def _from_numpy(x: np.ndarray) -> torch.Tensor:
    """A tensor sharing memory with x where torch allows it (contiguous and writable), else a copy."""
    if not (x.flags.c_contiguous and x.flags.writeable):
        x = np.array(x, order="C", copy=True)
    return torch.from_numpy(x)


def _dims(dim: Dim, *ndims: int) -> tuple[int, ...]:
    """Normalise `dim` (int or tuple) to sorted negative axes, valid for every given rank."""
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    ndim = min(ndims)
    if not dims or any(not isinstance(d, int) or not -ndim <= d < ndim for d in dims):
        raise InputError("dim", say("vectors.axes", n=ndim, m=ndim - 1), dim)
    if min(ndims) != max(ndims) and any(d >= 0 for d in dims):
        raise InputError("dim", say("vectors.negative_axes"), dim)
    # Negative axes address the feature axes alike in inputs of different rank (t may add a K axis).
    return tuple(sorted({d - ndim if d >= 0 else d for d in dims}))
