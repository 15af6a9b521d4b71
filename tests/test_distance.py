"""Chunked distances against a float64 reference; top-k search against a full sort."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgreid.evaluation.distance import compute_distance, topk_search
from dgreid.evaluation.metrics import EvaluationError


def reference(q: np.ndarray, g: np.ndarray, metric: str) -> np.ndarray:
    q, g = q.astype(np.float64), g.astype(np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        g = g / np.linalg.norm(g, axis=1, keepdims=True)
        return 1.0 - q @ g.T
    return np.sqrt(((q[:, None, :] - g[None, :, :]) ** 2).sum(-1))


def features(seed: int, nq: int = 23, ng: int = 71, dim: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # ReLU-like features with a large common offset (what trained embeddings look like)
    g = (np.abs(rng.standard_normal((ng, dim))) * 3 + 5).astype(np.float32)
    q = (np.abs(rng.standard_normal((nq, dim))) * 3 + 5).astype(np.float32)
    q[:3] = g[:3]  # exact duplicates: distance 0
    q[3:6] = g[3:6] + 1e-3 if ng >= 6 else q[3:6]  # near duplicates
    return q, g


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_matches_float64_reference(metric):
    q, g = features(0)
    d = compute_distance(torch.from_numpy(q), torch.from_numpy(g), metric=metric, chunk_size=5)
    assert d.dtype == torch.float32 and d.shape == (23, 71)
    np.testing.assert_allclose(d.numpy(), reference(q, g, metric), rtol=1e-5, atol=1e-5)


def test_numpy_input_and_chunking_agree():
    q, g = features(1)
    a = compute_distance(q, g, chunk_size=1)
    b = compute_distance(q, g, chunk_size=1000)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_topk_equals_full_sort(metric):
    q, g = features(2, nq=19, ng=203)
    full = compute_distance(q, g, metric=metric).numpy()
    d, i = topk_search(q, g, k=7, metric=metric, chunk_size=4, gallery_chunk_size=50)
    assert d.shape == (19, 7) and i.dtype == torch.int64
    order = np.argsort(full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(i.numpy(), order)
    np.testing.assert_allclose(d.numpy(), np.take_along_axis(full, order, 1), rtol=1e-5, atol=1e-6)


def test_topk_ties_ordered_by_gallery_index():
    """0/1 features whose gallery mean is exactly 0.5: every distance is exact and many tie."""
    rng = np.random.default_rng(3)
    half = rng.integers(0, 2, (60, 4)).astype(np.float32)
    g = np.concatenate([half, 1 - half])
    q = rng.integers(0, 2, (9, 4)).astype(np.float32)
    d, i = topk_search(q, g, k=15, chunk_size=2, gallery_chunk_size=32)
    full = compute_distance(q, g).numpy()
    order = np.argsort(full, axis=1, kind="stable")[:, :15]
    np.testing.assert_array_equal(i.numpy(), order)


def test_topk_k_larger_than_gallery_returns_all():
    q, g = features(4, nq=6, ng=5)
    d, i = topk_search(q, g, k=np.int64(10))
    assert d.shape == (6, 5)
    assert sorted(i[0].tolist()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: compute_distance(np.ones((2, 3)), np.ones((2, 4))), "dimension 3"),
        (lambda: compute_distance(np.ones(3), np.ones((2, 3))), "2-D"),
        (lambda: compute_distance(np.full((1, 2), np.nan), np.ones((2, 2))), "NaN"),
        (lambda: compute_distance(np.ones((1, 2)), np.ones((2, 2)), metric="l1"), "euclidean"),
        (lambda: topk_search(np.ones((1, 2)), np.ones((2, 2)), k=0), "k must be"),
    ],
)
def test_errors(call, message):
    with pytest.raises(EvaluationError, match=message):
        call()
