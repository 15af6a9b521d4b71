"""CMC, mAP and mINP of a query x gallery distance matrix, without a compiled extension.

Semantics (those of the field's common evaluators):

- For each query, gallery items with the same pid AND the same camid as the query are removed
  before ranking; gallery items with ``pid == DISTRACTOR_PID`` never match anything.
- The ranked list is sorted by distance, ascending; equal distances are ordered by gallery index
  (a stable sort), so results never depend on the sort algorithm.
- A query with no match left after removal is skipped and counted (``RankMetrics.num_skipped``).
- ``cmc[k]`` is the fraction of valid queries whose first match is within the top ``k + 1``.
  AP is the mean over a query's matches of precision at that match; mINP is the mean over
  queries of ``num_matches / rank_of_the_last_match`` (Ye et al., 2021).

How it is fast: a query's metrics only need the rank of each of its (few) matches. Each row
is sorted once by value (numpy's SIMD sort), a match's rank is a binary search of its distance
in the sorted row, and exact ties and the removed same-camera items are corrected for on the
small per-query set. Query chunks run on a thread pool (numpy's sort releases the GIL).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dgreid.errors import DgreidError
from dgreid.structures import DISTRACTOR_PID

#: Elements of one query chunk (rows x gallery size); bounds the memory of each worker.
CHUNK_ELEMENTS = 1 << 22


class EvaluationError(DgreidError, ValueError):
    """Evaluation inputs are inconsistent (shapes, lengths, NaN) or no query can be scored."""


@dataclass(frozen=True)
class RankMetrics:
    """Everything :func:`compute_rank_metrics` measured.

    ``cmc`` has ``max_rank`` entries (``cmc[0]`` is rank-1); ``ap`` and ``first_match_rank``
    have one entry per query (``nan`` / ``-1`` for skipped queries); ranks are 0-based.
    """

    cmc: np.ndarray
    mAP: float
    mINP: float
    num_valid: int
    num_skipped: int
    ap: np.ndarray
    first_match_rank: np.ndarray


def evaluate_rank(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any,
    g_camids: Any,
    max_rank: int = 50,
) -> tuple[np.ndarray, float, float]:
    """Return ``(cmc, mAP, mINP)`` of a distance matrix; see the module docstring for the rules.

    Use :func:`compute_rank_metrics` for the number of skipped queries and per-query values.
    """
    m = compute_rank_metrics(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    return m.cmc, m.mAP, m.mINP


def compute_rank_metrics(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any,
    g_camids: Any,
    max_rank: int = 50,
    chunk_size: int | None = None,
    num_threads: int | None = None,
) -> RankMetrics:
    """Rank metrics of ``distmat`` (num_query x num_gallery, numpy or CPU tensor).

    ``chunk_size`` queries are ranked at a time (default: about 4M distances per chunk) on
    ``num_threads`` threads (default: the CPUs this process may use).
    """
    dist = _as_numpy(distmat)
    if dist.ndim != 2:
        raise EvaluationError(
            f"distmat must be 2-D (num_query x num_gallery), got shape {dist.shape}"
        )
    nq, ng = dist.shape
    if nq == 0 or ng == 0:
        raise EvaluationError(f"distmat is empty (shape {dist.shape})")
    qp = _ids("q_pids", q_pids, nq, "rows")
    gp = _ids("g_pids", g_pids, ng, "columns")
    qc = _ids("q_camids", q_camids, nq, "rows")
    gc = _ids("g_camids", g_camids, ng, "columns")
    if not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise EvaluationError(f"max_rank must be a positive integer, got {max_rank!r}")
    if dist.dtype not in (np.float32, np.float64):
        dist = dist.astype(np.float32 if dist.dtype == np.float16 else np.float64)

    table, q_slot = _match_table(qp, gp)
    rows = chunk_size or max(1, CHUNK_ELEMENTS // ng)
    starts = list(range(0, nq, rows))
    workers = num_threads or len(os.sched_getaffinity(0))

    def run(s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = min(s + rows, nq)
        return _chunk_ranks(dist[s:e], s, table[q_slot[s:e]], qc[s:e], gc)

    if workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(run, starts))
    else:
        parts = [run(s) for s in starts]
    ap = np.concatenate([p[0] for p in parts])
    first = np.concatenate([p[1] for p in parts])
    inp = np.concatenate([p[2] for p in parts])

    valid = first >= 0
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise EvaluationError(
            f"no query has a valid match in the gallery ({nq} queries, {ng} gallery items; "
            "a match needs the same pid and a different camid)"
        )
    hist = np.bincount(np.minimum(first[valid], max_rank), minlength=max_rank + 1)
    cmc = np.cumsum(hist[:max_rank]) / num_valid
    return RankMetrics(
        cmc=cmc.astype(np.float64),
        mAP=float(ap[valid].mean()),
        mINP=float(inp[valid].mean()),
        num_valid=num_valid,
        num_skipped=nq - num_valid,
        ap=np.where(valid, ap, np.nan),
        first_match_rank=first,
    )


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _ids(name: str, x: Any, n: int, axis: str) -> np.ndarray:
    a = _as_numpy(x)
    if a.ndim != 1:
        raise EvaluationError(f"{name} must be 1-D, got shape {a.shape}")
    if len(a) != n:
        raise EvaluationError(f"{name} has {len(a)} entries but distmat has {n} {axis}")
    if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise EvaluationError(f"{name} must hold integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def _match_table(qp: np.ndarray, gp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gallery indices of each identity (rows padded with -1) and each query's row.

    Queries whose pid is absent from the gallery (or is a distractor) point at an all -1 row.
    """
    keep = np.flatnonzero(gp != DISTRACTOR_PID)
    uniq, inv = np.unique(gp[keep], return_inverse=True)
    counts = np.bincount(inv, minlength=len(uniq))
    width = int(counts.max()) if len(uniq) else 1
    table = np.full((len(uniq) + 1, width), -1, dtype=np.int64)
    if len(uniq):
        order = np.argsort(inv, kind="stable")  # keeps gallery indices ascending per pid
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        col = np.arange(len(order)) - starts[inv[order]]
        table[inv[order], col] = keep[order]
    slot = np.searchsorted(uniq, qp)
    found = (slot < len(uniq)) & (uniq[np.minimum(slot, max(len(uniq) - 1, 0))] == qp)
    found &= qp != DISTRACTOR_PID
    return table, np.where(found, slot, len(uniq))


def _chunk_ranks(
    dist: np.ndarray, row0: int, cand: np.ndarray, qcam: np.ndarray, gcam: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-query (AP, first match rank or -1, INP) for one chunk of rows.

    ``cand`` holds, per query, the gallery indices sharing its pid (-1 padded).
    """
    n, ng = dist.shape
    srt = np.sort(dist, axis=1)
    bad = np.isnan(srt[:, -1])  # NaN sorts last
    if bad.any():
        q = row0 + int(np.flatnonzero(bad)[0])
        raise EvaluationError(f"distmat contains NaN (first in query row {q})")
    ok = cand >= 0
    cc = np.where(ok, cand, 0)
    same_cam = gcam[cc] == qcam[:, None]
    pos = ok & ~same_cam
    rem = ok & same_cam
    dc = np.take_along_axis(dist, cc, axis=1)

    # rank among ALL gallery items in (distance, index) order: strictly smaller + tied earlier
    t_srt, t_dc = torch.from_numpy(srt), torch.from_numpy(np.ascontiguousarray(dc))
    less = torch.searchsorted(t_srt, t_dc).numpy()
    leq = torch.searchsorted(t_srt, t_dc, right=True).numpy()
    rank = less + _tied_before(dist, dc, cc, pos & (leq - less > 1))
    # minus removed same-camera items ranked before the match
    rank -= _removed_before(dc, cc, pos, rem)

    npos = pos.sum(axis=1)
    rank = np.sort(np.where(pos, rank, ng), axis=1)
    j = np.arange(rank.shape[1])
    take = j[None, :] < npos[:, None]
    prec = np.where(take, (j + 1)[None, :] / (rank + 1.0), 0.0)
    has = npos > 0
    safe = np.maximum(npos, 1)
    ap = prec.sum(axis=1) / safe
    first = np.where(has, rank[:, 0], -1)
    last = np.take_along_axis(rank, (safe - 1)[:, None], axis=1)[:, 0]
    inp = npos / (last + 1.0)
    return ap, first, inp


def _tied_before(dist: np.ndarray, dc: np.ndarray, cc: np.ndarray, tied: np.ndarray) -> np.ndarray:
    """Count, for flagged entries, the gallery items at an equal distance with a smaller index."""
    out = np.zeros(dc.shape, dtype=np.int64)
    r, c = np.nonzero(tied)
    step = max(1, CHUNK_ELEMENTS // dist.shape[1])
    cols = np.arange(dist.shape[1])
    for s in range(0, len(r), step):
        rr, ci = r[s : s + step], c[s : s + step]
        eq = (dist[rr] == dc[rr, ci][:, None]) & (cols[None, :] < cc[rr, ci][:, None])
        out[rr, ci] = eq.sum(axis=1)
    return out


def _removed_before(dc: np.ndarray, cc: np.ndarray, pos: np.ndarray, rem: np.ndarray) -> np.ndarray:
    """Count, per match, the removed (same pid and camera) items ranked before it."""
    out = np.zeros(dc.shape, dtype=np.int64)
    rows = np.flatnonzero(rem.any(axis=1) & pos.any(axis=1))
    width = dc.shape[1]
    step = max(1, CHUNK_ELEMENTS // (width * width))
    for s in range(0, len(rows), step):
        r = rows[s : s + step]
        d, c, m = dc[r], cc[r], rem[r]
        # before[q, i, j]: removed item i precedes candidate j in (distance, index) order
        before = (d[:, :, None] < d[:, None, :]) | (
            (d[:, :, None] == d[:, None, :]) & (c[:, :, None] < c[:, None, :])
        )
        out[r] = (before & m[:, :, None]).sum(axis=1)
    return out
