"""Rank gallery images for each query: exact (torch, chunked), exact with k-reciprocal
re-ranking, or through a faiss index.

Distances are Euclidean (not squared) or ``1 - cosine similarity``; smaller is closer. Rankings are
written as CSV (one row per query and rank) or JSON (one object per query).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dgreid.deploy.features import FolderFeatures
from dgreid.deploy.ranked_html import RankedMatch, RankedQuery
from dgreid.errors import DgreidError
from dgreid.evaluation.rerank import Rerank
from dgreid.utils.io import atomic_write_json, atomic_write_text

METRICS = ("euclidean", "cosine")


class SearchError(DgreidError):
    """Query and gallery cannot be searched together (empty, different widths, bad metric)."""


@dataclass
class Ranking:
    """For query ``i``: gallery indices ``indices[i]`` at ``distances[i]``, nearest first."""

    distances: np.ndarray  # (Q, k) float32
    indices: np.ndarray  # (Q, k) int64

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])


def check_pair(query: np.ndarray, gallery: np.ndarray, metric: str) -> None:
    """Refuse a search that cannot be done, naming what is wrong."""
    if metric not in METRICS:
        raise SearchError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    if len(query) == 0 or len(gallery) == 0:
        raise SearchError(f"nothing to search: {len(query)} queries, {len(gallery)} gallery items")
    if query.shape[1] != gallery.shape[1]:
        raise SearchError(
            f"query features are {query.shape[1]}-d but gallery features are "
            f"{gallery.shape[1]}-d: were they extracted with the same model?"
        )


def exact_search(
    query: np.ndarray,
    gallery: np.ndarray,
    k: int,
    metric: str = "euclidean",
    chunk: int = 256,
    device: str | torch.device = "cpu",
) -> Ranking:
    """Exact top-``k`` by brute force on ``device``, ``chunk`` queries at a time (the full
    distance matrix is never held)."""
    check_pair(query, gallery, metric)
    from dgreid.evaluation.distance import topk_search

    dist, idx = topk_search(
        torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32)).to(device),
        torch.from_numpy(np.ascontiguousarray(gallery, dtype=np.float32)).to(device),
        k=min(k, len(gallery)),
        metric=metric,
        chunk_size=chunk,
    )
    return Ranking(np.asarray(dist, dtype=np.float32), np.asarray(idx, dtype=np.int64))


def reranked_search(
    query: np.ndarray,
    gallery: np.ndarray,
    k: int,
    metric: str = "euclidean",
    rerank: Rerank | None = None,
    device: str | torch.device = "cpu",
) -> Ranking:
    """Exact top-``k`` by k-reciprocal re-ranked distances (``rerank``: the published
    parameters by default). It needs every query-gallery, query-query and gallery-gallery
    distance, so its memory grows with ``(Q + G)^2``; a larger problem than
    :data:`~dgreid.evaluation.rerank.MAX_BYTES` allows is refused before any is computed."""
    from dgreid.evaluation.distance import compute_distance, smallest
    from dgreid.evaluation.rerank import rerank_features

    check_pair(query, gallery, metric)
    q, g = (
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)
        for x in (query, gallery)
    )
    dist = rerank_features(q, g, lambda a, b: compute_distance(a, b, metric), rerank or Rerank())
    top, idx = smallest(dist, min(k, len(gallery)))
    return Ranking(top.numpy(), idx.numpy())


def check_rerank_index(index: str) -> None:
    """Refuse re-ranking through a faiss index: it needs all pairwise distances, and an index
    answers each query with its top ``k`` only."""
    if index == "exact":
        return
    what = "an approximate index" if index == "faiss-ivf" else "a faiss index"
    raise SearchError(
        f"--rerank needs --index exact, not {index}: k-reciprocal re-ranking compares every "
        f"pair of images (query-query, gallery-gallery and query-gallery distances), and "
        f"{what} gives only each query's top k"
    )


def faiss_search(
    query: np.ndarray,
    gallery: np.ndarray,
    k: int,
    metric: str,
    kind: str,
    index_path: str | Path,
    nlist: int = 0,
    nprobe: int = 32,
) -> tuple[Ranking, bool]:
    """Top-``k`` through a faiss index saved at ``index_path``; returns ``(ranking, reused)``."""
    from dgreid.deploy.faiss_index import IndexSpec, open_index

    check_pair(query, gallery, metric)
    spec = IndexSpec(kind=kind, metric=metric, nlist=nlist, nprobe=nprobe)
    index, reused = open_index(gallery, spec, index_path)
    dist, idx = index.search(query, k)
    return Ranking(dist, idx), reused


def ranked_queries(
    query: FolderFeatures, gallery: FolderFeatures, ranking: Ranking
) -> list[RankedQuery]:
    """The ranking as typed records (absolute image paths; no labels) for HTML or JSON."""
    out = []
    for qi in range(len(query)):
        matches = [
            RankedMatch(gallery.abspath(int(g)), float(d), None)
            for g, d in zip(ranking.indices[qi], ranking.distances[qi])
            if g >= 0  # faiss pads with -1 when fewer than k results are found
        ]
        out.append(RankedQuery(query.abspath(qi), matches))
    return out


def write_ranking(
    path: str | Path, query: FolderFeatures, gallery: FolderFeatures, ranking: Ranking
) -> None:
    """Write ``.json`` (one object per query) or anything else as CSV (query, rank, gallery,
    distance), with paths relative to the query and gallery roots."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        atomic_write_json(
            path,
            {
                "query_root": query.root,
                "gallery_root": gallery.root,
                "results": [
                    {
                        "query": query.paths[qi],
                        "ranked": [
                            {"gallery": gallery.paths[int(g)], "distance": float(d)}
                            for g, d in zip(ranking.indices[qi], ranking.distances[qi])
                            if g >= 0
                        ],
                    }
                    for qi in range(len(query))
                ],
            },
        )
        return
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["query", "rank", "gallery", "distance"])
    for qi in range(len(query)):
        rank = 0
        for g, d in zip(ranking.indices[qi], ranking.distances[qi]):
            if g >= 0:
                rank += 1
                w.writerow([query.paths[qi], rank, gallery.paths[int(g)], f"{float(d):.6g}"])
    atomic_write_text(path, buf.getvalue())
