"""Analytic tests of explorer.vectors: endpoints, norms, angles, fallback weights, batch shapes, types."""
import math

import numpy as np
import pytest
import torch

from explorer.errors import InputError
from explorer.text.vectors import cosine_similarity, lerp, mean_norm, renormalize, slerp


def _unit(rng, *shape):
    x = rng.standard_normal(shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _orthonormal_pair(d=16, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, 2)))
    return q[:, 0], q[:, 1]                                                 # (D,), (D,)


# --- slerp -------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_slerp_endpoints_are_exact(kind):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 77, 16)), rng.standard_normal((2, 77, 16)) * 3
    if kind == "torch":
        a, b = torch.from_numpy(a), torch.from_numpy(b)
    start, end = slerp(a, b, 0.0), slerp(a, b, 1.0)
    np.testing.assert_allclose(np.asarray(start), np.asarray(a), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(end), np.asarray(b), rtol=0, atol=1e-12)


def test_slerp_keeps_unit_vectors_on_the_sphere():
    rng = np.random.default_rng(2)
    a, b = _unit(rng, 5, 32), _unit(rng, 5, 32)                             # (5, 32)
    for t in np.linspace(0, 1, 11):
        np.testing.assert_allclose(np.linalg.norm(slerp(a, b, t), axis=-1), 1.0, atol=1e-12)


def test_slerp_midpoint_of_orthogonal_unit_vectors_is_at_45_degrees():
    a, b = _orthonormal_pair()
    mid = slerp(a, b, 0.5)
    angle_a = math.degrees(math.acos(float(cosine_similarity(mid, a))))
    angle_b = math.degrees(math.acos(float(cosine_similarity(mid, b))))
    assert angle_a == pytest.approx(45.0, abs=1e-9)
    assert angle_b == pytest.approx(45.0, abs=1e-9)
    np.testing.assert_allclose(mid, (a + b) / math.sqrt(2), atol=1e-12)


def test_slerp_angle_is_linear_in_t():
    a, b = _orthonormal_pair(seed=3)
    for t in (0.1, 0.3, 0.8):
        angle = math.acos(float(cosine_similarity(slerp(a, b, t), a)))
        assert angle == pytest.approx(t * math.pi / 2, abs=1e-9)


def test_slerp_keeps_a_common_norm_for_non_unit_vectors():
    a, b = _orthonormal_pair(seed=4)
    out = slerp(5 * a, 5 * b, 0.3)
    assert np.linalg.norm(out) == pytest.approx(5.0, abs=1e-9)


def test_slerp_near_parallel_falls_back_to_lerp_with_unswapped_weights():
    a = np.array([3.0, -1.0, 2.0])
    b = a * (1 + 1e-9) * 4                                                  # same direction, 4x longer
    t = 0.25
    out = slerp(a, b, t)
    np.testing.assert_allclose(out, (1 - t) * a + t * b, rtol=1e-12)
    assert not np.allclose(out, t * a + (1 - t) * b)                        # the A1111 swap would show
    assert np.isfinite(out).all()


def test_slerp_fallback_has_finite_gradients():
    a = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    b = (a.detach() * 2).requires_grad_()
    slerp(a, b, 0.5).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


def test_slerp_zero_vector_falls_back_to_lerp():
    a, b = np.zeros(4), np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(slerp(a, b, 0.3), 0.3 * b)


def test_slerp_is_per_token_on_conditioning():
    rng = np.random.default_rng(5)
    a, b = torch.from_numpy(rng.standard_normal((2, 77, 16))), torch.from_numpy(rng.standard_normal((2, 77, 16)))
    out = slerp(a, b, 0.4)
    assert out.shape == (2, 77, 16)
    expected = slerp(a[1, 10], b[1, 10], 0.4)                               # one token on its own
    torch.testing.assert_close(out[1, 10], expected)


def test_slerp_frames_from_a_batch_of_t():
    rng = np.random.default_rng(6)
    a, b = torch.from_numpy(rng.standard_normal((1, 4, 8, 8))), torch.from_numpy(rng.standard_normal((1, 4, 8, 8)))
    ts = torch.linspace(0, 1, 5).reshape(5, 1, 1, 1)                         # (K, 1, 1, 1)
    frames = slerp(a, b, ts, dim=(1, 2, 3))                                 # whole latents as vectors
    assert frames.shape == (5, 4, 8, 8)
    torch.testing.assert_close(frames[0], a[0])
    torch.testing.assert_close(frames[-1], b[0])
    torch.testing.assert_close(frames[2], slerp(a[0], b[0], 0.5, dim=(0, 1, 2)))
    per_row = slerp(a, b, ts)                                               # default dim=-1: per row
    assert per_row.shape == (5, 4, 8, 8)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_in_numpy_out_dtype_preserved(dtype):
    a, b = _orthonormal_pair()
    for fn in (lambda: slerp(a.astype(dtype), b.astype(dtype), 0.5), lambda: lerp(a.astype(dtype), b.astype(dtype), 0.5)):
        out = fn()
        assert isinstance(out, np.ndarray) and out.dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_torch_in_torch_out_dtype_preserved(dtype):
    a, b = (torch.from_numpy(v).to(dtype) for v in _orthonormal_pair())
    out = slerp(a, b, torch.tensor(0.5))
    assert isinstance(out, torch.Tensor) and out.dtype == dtype
    assert float(torch.linalg.vector_norm(out.float())) == pytest.approx(1.0, abs=1e-2)


def test_mixed_kinds_are_rejected():
    with pytest.raises(InputError, match="both numpy arrays or both torch tensors"):
        slerp(np.ones(3), torch.ones(3), 0.5)


def test_bad_dim_is_rejected_with_range():
    with pytest.raises(InputError, match=r"dim: expected an axis or tuple of axes in \[-2, 1\], received 2"):
        slerp(np.ones((2, 3)), np.ones((2, 3)), 0.5, dim=2)


# --- lerp, cosine, renormalize, mean_norm ------------------------------------------------------

def test_lerp_weights_and_frames():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    np.testing.assert_allclose(lerp(a, b, 0.25), [0.75, 0.5])
    frames = lerp(a, b, np.array([0.0, 1.0]).reshape(2, 1))                 # (K, 1) x (2,) -> (K, 2)
    np.testing.assert_allclose(frames, [a, b])


def test_cosine_similarity_reduces_the_feature_axis():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 3.0], [2.0, 2.0]])
    torch.testing.assert_close(cosine_similarity(a, b), torch.tensor([0.0, 1.0]))
    assert float(cosine_similarity(np.array([1.0, 0.0]), np.array([-1.0, 0.0]))) == pytest.approx(-1.0)


def test_renormalize_per_token():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 77, 16))                                    # (B, 77, D)
    target = rng.uniform(1, 3, (2, 77))                                     # (B, 77)
    out = renormalize(x, target)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), target, rtol=1e-12)
    np.testing.assert_allclose(cosine_similarity(out, x), 1.0, rtol=1e-12)  # direction unchanged
    out_keepdim = renormalize(x, target[..., None])                         # (B, 77, 1) works too
    np.testing.assert_allclose(out_keepdim, out)
    np.testing.assert_allclose(np.linalg.norm(renormalize(x, 2.0), axis=-1), 2.0)


def test_renormalize_keeps_zero_vectors_and_rejects_negative_norms():
    np.testing.assert_array_equal(renormalize(np.zeros((1, 3)), 5.0), np.zeros((1, 3)))
    with pytest.raises(InputError, match="reference_norm"):
        renormalize(np.ones(3), -1.0)


def test_mean_norm_matches_the_ingredients_and_fixes_the_spike():
    e1 = torch.tensor([[3.0, 4.0]])                                         # norm 5, (1, D)
    e2 = torch.tensor([[0.0, 1.0]])                                         # norm 1
    torch.testing.assert_close(mean_norm([e1, e2]), torch.tensor([[3.0]]))
    torch.testing.assert_close(mean_norm(torch.stack([e1, e2]), weights=[1.0, -3.0]), torch.tensor([[2.0]]))
    spike = e1 - 3 * e2                                                     # |.| = 3 != 2
    fixed = renormalize(spike, mean_norm([e1, e2], weights=[1.0, -3.0]))
    assert float(torch.linalg.vector_norm(fixed)) == pytest.approx(2.0)
    with pytest.raises(InputError, match="weights: expected 2 numbers"):
        mean_norm([e1, e2], weights=[1.0])
