"""Exact search against brute force, faiss against exact, and reuse of a saved index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dgreid.deploy.faiss_index import GalleryIndex, IndexSpec
from dgreid.deploy.search import SearchError, exact_search, faiss_search


def _data(nq: int = 13, ng: int = 300, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((nq, d), dtype=np.float32), rng.standard_normal(
        (ng, d), dtype=np.float32
    )


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_exact_matches_brute_force(metric: str) -> None:
    q, g = _data()
    r = exact_search(q, g, k=7, metric=metric, chunk=4)
    if metric == "euclidean":
        full = np.sqrt(((q[:, None, :] - g[None, :, :]) ** 2).sum(-1))
    else:
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        gn = g / np.linalg.norm(g, axis=1, keepdims=True)
        full = 1 - qn @ gn.T
    order = np.argsort(full, axis=1)[:, :7]
    assert np.array_equal(r.indices, order)
    assert np.allclose(r.distances, np.take_along_axis(full, order, 1), atol=1e-4)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_faiss_flat_equals_exact(tmp_path: Path, metric: str) -> None:
    q, g = _data()
    exact = exact_search(q, g, k=10, metric=metric)
    r, reused = faiss_search(q, g, 10, metric, "flat", tmp_path / "g.faiss")
    assert not reused
    assert np.array_equal(r.indices, exact.indices)
    assert np.allclose(r.distances, exact.distances, atol=1e-4)


def test_index_reused_only_for_same_gallery(tmp_path: Path) -> None:
    q, g = _data(ng=2000)
    path = tmp_path / "g.ivf.faiss"
    first, reused1 = faiss_search(q, g, 5, "euclidean", "ivf", path, nlist=8, nprobe=8)
    second, reused2 = faiss_search(q, g, 5, "euclidean", "ivf", path, nlist=8, nprobe=8)
    assert (reused1, reused2) == (False, True)
    assert np.array_equal(first.indices, second.indices)
    # nprobe == nlist visits every cell: IVF is then exact
    assert np.array_equal(first.indices, exact_search(q, g, 5).indices)
    g2 = g.copy()
    g2[0, 0] += 1.0
    _, reused3 = faiss_search(q, g2, 5, "euclidean", "ivf", path, nlist=8, nprobe=8)
    assert not reused3
    spec = IndexSpec(kind="ivf", metric="euclidean", nlist=8, nprobe=8)
    assert GalleryIndex.load_if_matching(path, g2, spec) is not None
    assert GalleryIndex.load_if_matching(path, g, spec) is None


def test_refuses_mismatched_widths() -> None:
    q, g = _data()
    with pytest.raises(SearchError, match="16-d"):
        exact_search(q[:, :8], g, k=3)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_reranked_search_is_the_top_of_the_re_ranked_distances(metric: str) -> None:
    from dgreid.deploy.search import reranked_search
    from dgreid.evaluation import Rerank, compute_distance, k_reciprocal_rerank

    q, g = _data(nq=9, ng=60)
    r = reranked_search(q, g, k=5, metric=metric, rerank=Rerank(k1=6, k2=3, lambda_value=0.3))
    d = [compute_distance(a, b, metric) for a, b in ((q, g), (q, q), (g, g))]
    full = k_reciprocal_rerank(*d, k1=6, k2=3, lambda_value=0.3).numpy()
    order = np.argsort(full, axis=1, kind="stable")[:, :5]
    assert np.array_equal(r.indices, order)
    assert np.allclose(r.distances, np.take_along_axis(full, order, 1))
    assert not np.array_equal(r.indices, exact_search(q, g, k=5, metric=metric).indices)
    assert r.distances.dtype == np.float32 and r.indices.dtype == np.int64


def test_rerank_refuses_a_faiss_index_and_an_oversized_problem(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dgreid.deploy.search import check_rerank_index, reranked_search
    from dgreid.evaluation import RerankError

    check_rerank_index("exact")
    with pytest.raises(SearchError, match="needs --index exact, not faiss-ivf.*approximate index"):
        check_rerank_index("faiss-ivf")
    with pytest.raises(SearchError, match="not faiss:.*only each query's top k"):
        check_rerank_index("faiss")
    monkeypatch.setattr("dgreid.evaluation.rerank.MAX_BYTES", 1000)
    q, g = _data(nq=9, ng=60)
    with pytest.raises(RerankError, match="9 queries x 60 gallery"):
        reranked_search(q, g, k=5)
