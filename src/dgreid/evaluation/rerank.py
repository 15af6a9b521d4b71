"""k-reciprocal re-ranking (Zhong et al., "Re-ranking Person Re-identification with k-reciprocal
Encoding", CVPR 2017) of a query x gallery distance matrix.

Queries and gallery are pooled into one set of ``N = Q + G`` items. Each item ``p`` gets a
sparse vector ``V[p]`` over the pool: Gaussian-kernel weights ``exp(-d)`` on its k-reciprocal
neighbours ``R(p, k1)`` (items in ``p``'s ``k1 + 1`` nearest that have ``p`` in theirs),
enlarged by ``R(c, k1/2)`` of each member ``c`` that shares more than 2/3 of it, then averaged
over the ``k2`` nearest items (local query expansion). Two items are as far apart as their
vectors' Jaccard distance ``1 - sum(min) / sum(max)``, which is blended with the original
distance: ``(1 - lambda) * jaccard + lambda * d``. Distances ``d`` are the squared inputs,
each column of the stacked ``N x N`` matrix divided by its maximum, as in the published code.

The ``N x N`` matrix is never held: its rows are built a block at a time from the three input
blocks, and only each row's nearest items are kept, so memory is the inputs, the ``Q x G``
output and ``O(N k1^2)`` for the neighbour sets. The inputs themselves hold about ``N^2``
float32 values; :func:`check_rerank_size` refuses a problem whose matrices exceed a limit
before any is computed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dgreid.evaluation.distance import smallest
from dgreid.evaluation.metrics import EvaluationError

#: The published parameters (Market-1501): neighbours, query-expansion size, weight of ``d``.
K1, K2, LAMBDA = 20, 6, 0.3
#: Default limit on the float32 distance matrices a re-ranking needs, ``4 (Q + G)^2`` bytes
#: (the inputs ``q_q``, ``g_g``, ``q_g`` and the ``Q x G`` output): 8 GiB, about 46,000 images
#: in all. Read when a re-ranking starts, so it may be raised for a larger machine.
MAX_BYTES = 8 << 30
#: Negative distances down to this fraction of the largest are rounding errors (set to 0).
_ROUNDING = 1e-5
#: Rows of the pooled matrix built at once (a ``_BLOCK x N`` float32 buffer).
_BLOCK = 512
#: Rows of a block transposed at once (fits in the cache with the block's columns).
_TILE = 256
#: Query-gallery weight pairs compared at once in the Jaccard step.
_PAIRS = 1 << 23


class RerankError(EvaluationError):
    """Re-ranking cannot be done: too large, bad parameters, or inconsistent distance blocks."""


@dataclass(frozen=True)
class Rerank:
    """Parameters of :func:`k_reciprocal_rerank` (the published ones by default)."""

    k1: int = K1
    k2: int = K2
    lambda_value: float = LAMBDA

    def __post_init__(self) -> None:
        for name in ("k1", "k2"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise RerankError(f"re-ranking {name} must be an integer >= 1, got {v!r}")
        lam = self.lambda_value
        if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not 0 <= lam <= 1:
            raise RerankError(f"re-ranking lambda_value must be a number in [0, 1], got {lam!r}")


def rerank_bytes(num_query: int, num_gallery: int) -> int:
    """Bytes of the float32 distance matrices a re-ranking of this size needs: ``4 (Q + G)^2``
    (``q_q``, ``g_g`` and ``q_g`` as inputs, the re-ranked ``Q x G`` as output)."""
    n = int(num_query) + int(num_gallery)
    return 4 * n * n


def check_rerank_size(num_query: int, num_gallery: int, max_bytes: int | None = None) -> None:
    """Refuse (:class:`RerankError`) a re-ranking whose distance matrices exceed ``max_bytes``
    (None: :data:`MAX_BYTES` as it is when called)."""
    need = rerank_bytes(num_query, num_gallery)
    if max_bytes is None:
        max_bytes = MAX_BYTES
    if need > max_bytes:
        raise RerankError(
            f"re-ranking {num_query} queries x {num_gallery} gallery items needs all "
            f"({num_query} + {num_gallery})^2 pairwise distances as float32, "
            f"{need / 2**30:.2f} GiB, above the limit of {max_bytes / 2**30:.2f} GiB; "
            "rank without re-ranking, or re-rank a smaller gallery"
        )


def k_reciprocal_rerank(
    q_g: Any,
    q_q: Any,
    g_g: Any,
    k1: int = K1,
    k2: int = K2,
    lambda_value: float = LAMBDA,
    max_bytes: int | None = None,
) -> torch.Tensor:
    """Re-ranked query x gallery distances (``Q x G`` float32 tensor on the CPU; smaller =
    closer), from the query x gallery, query x query and gallery x gallery distances.

    The three inputs are non-negative distance matrices (not squared; they are squared here),
    given as torch tensors (any device, any float dtype) or numpy arrays. ``q_q`` and ``g_g``
    are square and normally symmetric with a zero diagonal. Equal distances are ordered by
    index. A problem larger than ``max_bytes`` (:func:`rerank_bytes`; default :data:`MAX_BYTES`)
    is refused.
    """
    params = Rerank(k1, k2, lambda_value)
    qg, qq, gg = (_matrix(x, name) for x, name in ((q_g, "q_g"), (q_q, "q_q"), (g_g, "g_g")))
    nq, ng = qg.shape
    if qq.shape != (nq, nq) or gg.shape != (ng, ng):
        raise RerankError(
            f"q_g is {nq}x{ng}, so q_q must be {nq}x{nq} and g_g {ng}x{ng}; got q_q "
            f"{tuple(qq.shape)} and g_g {tuple(gg.shape)}"
        )
    check_rerank_size(nq, ng, max_bytes)
    pool = _Pool(qq, qg, gg)
    n = pool.n
    k = min(params.k1 + 1, n)
    kh = min(int(round(params.k1 / 2)) + 1, n)
    kq = min(params.k2, n)
    ranks = pool.nearest(max(k, kq))
    weights = _weights(pool, _expanded_sets(ranks[:, :k], ranks[:, :kh]))
    if params.k2 != 1:
        weights = _query_expansion(weights, ranks[:, :kq])
    overlap = _min_overlap(weights, nq)  # sum_k min(V[i, k], V[Q + j, k])
    jac = 1.0 - overlap / (2.0 - overlap)
    original = qg.square().mul_(pool.scale[:nq, None])
    return jac.mul_(1.0 - params.lambda_value).add_(original, alpha=params.lambda_value)


def rerank_features(
    query: torch.Tensor,
    gallery: torch.Tensor,
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    params: Rerank,
) -> torch.Tensor:
    """Re-ranked query x gallery distances of two feature sets, each pair of sets measured with
    ``distance``; a problem above :data:`MAX_BYTES` is refused before any distance is
    computed."""
    check_rerank_size(len(query), len(gallery))
    return k_reciprocal_rerank(
        distance(query, gallery),
        distance(query, query),
        distance(gallery, gallery),
        params.k1,
        params.k2,
        params.lambda_value,
    )


def _matrix(x: Any, name: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.ndim != 2 or 0 in t.shape:
        raise RerankError(f"{name} must be a non-empty 2-D distance matrix, got {tuple(t.shape)}")
    t = t.detach().to(device="cpu", dtype=torch.float32)
    low, high = (float(v) for v in torch.aminmax(t))  # NaN anywhere makes both NaN
    if not (math.isfinite(low) and math.isfinite(high)):
        raise RerankError(f"{name} holds NaN or infinite distances")
    if low < -_ROUNDING * max(high, 1.0):
        raise RerankError(f"{name} holds negative distances ({low:g}); expected distances >= 0")
    return t.clamp(min=0.0) if low < 0 else t  # 1 - cos(x, x) may come out as -1e-7


class _Pool:
    """The stacked distances ``M = [[q_q, q_g], [q_g^T, g_g]]`` seen row by row as the published
    code does: ``D[i, x] = M[x, i]^2 / max_r M[r, i]^2`` (each column normalised, transposed)."""

    def __init__(self, qq: torch.Tensor, qg: torch.Tensor, gg: torch.Tensor) -> None:
        self.qq, self.qg, self.gg = qq, qg, gg
        self.nq = qq.shape[0]
        self.n = self.nq + gg.shape[0]
        colmax = torch.cat(
            [torch.maximum(qq.amax(0), qg.amax(1)), torch.maximum(qg.amax(0), gg.amax(0))]
        )
        colmax[colmax == 0] = 1.0  # a column of zeros stays zero
        self.scale = colmax.square().reciprocal()

    def rows(self, start: int, stop: int, out: torch.Tensor) -> torch.Tensor:
        """``D[start:stop]`` (within the queries or within the gallery) written into ``out``."""
        nq = self.nq
        if stop <= nq:
            _copy_transposed(out[:, :nq], self.qq[:, start:stop])
            out[:, nq:].copy_(self.qg[start:stop])
        else:
            _copy_transposed(out[:, :nq], self.qg[:, start - nq : stop - nq])
            _copy_transposed(out[:, nq:], self.gg[:, start - nq : stop - nq])
        return out.square_().mul_(self.scale[start:stop, None])

    def at(self, i: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``D[i, x]`` for index tensors of one shape."""
        nq = self.nq
        out = torch.empty(i.shape, dtype=torch.float32)
        xq, iq = x < nq, i < nq
        for mask, block, r, c in (
            (xq & iq, self.qq, x, i),
            (xq & ~iq, self.qg, x, i - nq),
            (~xq & iq, self.qg, i, x - nq),
            (~xq & ~iq, self.gg, x - nq, i - nq),
        ):
            out[mask] = block[r[mask], c[mask]]
        return out.square_().mul_(self.scale[i])

    def nearest(self, k: int) -> torch.Tensor:
        """``N x k`` indices of each row's ``k`` smallest ``D`` entries, by (distance, index)."""
        ranks = torch.empty(self.n, k, dtype=torch.long)
        buf = torch.empty(_BLOCK, self.n)
        for lo, hi in ((0, self.nq), (self.nq, self.n)):
            for s in range(lo, hi, _BLOCK):
                e = min(s + _BLOCK, hi)
                ranks[s:e] = smallest(self.rows(s, e, buf[: e - s]), k)[1]
        return ranks


def _copy_transposed(dst: torch.Tensor, src: torch.Tensor) -> None:
    """``dst[:] = src.T`` a tile of ``src``'s rows at a time (a column-strided copy of the
    whole is several times slower)."""
    for a in range(0, src.shape[0], _TILE):
        dst[:, a : a + _TILE].copy_(src[a : a + _TILE].T)


@dataclass
class _Sparse:
    """An ``n x n`` matrix by its nonzero entries ``(rows, cols, w)``, sorted by row."""

    rows: torch.Tensor
    cols: torch.Tensor
    w: torch.Tensor
    n: int


def _reciprocal(near: torch.Tensor) -> torch.Tensor:
    """``mask[p, a]``: ``p`` is among the nearest of its neighbour ``near[p, a]`` (both lists
    of the same length), i.e. ``near[p, a]`` is a k-reciprocal neighbour of ``p``."""
    n, k = near.shape
    mask = torch.empty(n, k, dtype=torch.bool)
    step = max(1, (1 << 24) // (k * k))
    for s in range(0, n, step):
        rows = torch.arange(s, min(s + step, n))
        mask[rows] = (near[near[rows]] == rows[:, None, None]).any(-1)
    return mask


def _expanded_sets(near: torch.Tensor, half: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each item's k-reciprocal set ``R(p, k1)`` joined with ``R(c, k1/2)`` for every member
    ``c`` whose own set has more than 2/3 of its items in ``R(p, k1)``.

    Returns ``(rows, cols)``: one entry per (item, member), no duplicates."""
    recip, recip_h = _reciprocal(near), _reciprocal(half)
    n, k = near.shape
    kh = half.shape[1]
    rows_out, cols_out = [], []
    step = max(1, (1 << 24) // (k * kh * k))
    for s in range(0, n, step):
        rows = torch.arange(s, min(s + step, n))
        mine, in_mine = near[rows], recip[rows]  # (B, k): R(p, k1) as a masked list
        cand = half[mine]  # (B, k, kh): each neighbour's own list, masked by cand_ok
        cand_ok = recip_h[mine]
        shared = ((cand[..., None] == mine[:, None, None, :]) & in_mine[:, None, None, :]).any(-1)
        size = cand_ok.sum(-1)
        take = in_mine & (3 * (shared & cand_ok).sum(-1) > 2 * size)
        members = torch.cat([mine, cand.flatten(1)], 1)
        keep = torch.cat([in_mine, (cand_ok & take[..., None]).flatten(1)], 1)
        members = torch.where(keep, members, -1).sort(1).values
        keep = members >= 0
        keep[:, 1:] &= members[:, 1:] != members[:, :-1]
        r, c = keep.nonzero().unbind(1)
        rows_out.append(rows[r])
        cols_out.append(members[r, c])
    return torch.cat(rows_out), torch.cat(cols_out)


def _weights(pool: _Pool, sets: tuple[torch.Tensor, torch.Tensor]) -> _Sparse:
    """``V``: ``exp(-D[p, x])`` over each item's set, each row summing to 1."""
    rows, cols = sets
    w = pool.at(rows, cols).neg_().exp_()
    total = torch.zeros(pool.n).index_add_(0, rows, w)
    return _Sparse(rows, cols, w / total[rows], pool.n)


def _query_expansion(v: _Sparse, near: torch.Tensor) -> _Sparse:
    """Each row of ``v`` replaced by the mean of the rows of its ``near`` items."""
    n, k = near.shape
    counts = torch.bincount(v.rows, minlength=n)
    whose = near.flatten()
    entry, pick = _ranges(torch.cumsum(counts, 0)[whose] - counts[whose], counts[whose])
    rows = torch.arange(n).repeat_interleave(k)[pick]
    key, slot = torch.unique(rows * n + v.cols[entry], return_inverse=True)
    w = torch.zeros(len(key)).index_add_(0, slot, v.w[entry] / k)
    return _Sparse(key // n, key % n, w, n)


def _min_overlap(v: _Sparse, nq: int) -> torch.Tensor:
    """``Q x G``: ``sum_x min(v[i, x], v[nq + j, x])`` over the columns ``x`` both rows hold."""
    n, ng = v.n, v.n - nq
    order = torch.argsort(v.cols * n + v.rows)  # by column, queries before gallery
    r, c, w = v.rows[order], v.cols[order], v.w[order]
    is_gal = r >= nq
    g_counts = torch.bincount(c[is_gal], minlength=n)
    g_start = torch.cumsum(torch.bincount(c, minlength=n), 0) - g_counts
    q_entries = (~is_gal).nonzero()[:, 0]
    per = g_counts[c[q_entries]]  # gallery entries sharing each query entry's column
    done = torch.cumsum(per, 0)
    out = torch.zeros(nq * ng)
    s = 0
    while s < len(q_entries):
        e = max(s + 1, int(torch.searchsorted(done, done[s] - per[s] + _PAIRS, right=True)))
        qe = q_entries[s:e]
        partner, pick = _ranges(g_start[c[qe]], per[s:e])
        mine = qe[pick]
        out.index_add_(0, r[mine] * ng + (r[partner] - nq), torch.minimum(w[mine], w[partner]))
        s = e
    return out.view(nq, ng)


def _ranges(starts: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ranges ``starts[i] : starts[i] + lengths[i]`` laid end to end, and for each of their
    items the ``i`` it came from."""
    pick = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
    before = torch.cumsum(lengths, 0) - lengths
    return starts[pick] + torch.arange(len(pick)) - before[pick], pick
