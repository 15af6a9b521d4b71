"""Query x gallery distances in chunks, and a top-k search that never holds the full matrix.

Both functions compute a block of distances the same way (:func:`_block`): a float32 matrix
product on the device of the query features. Euclidean distances are taken after centring both
sets on the gallery mean (distances do not change; the cancellation error of
``|q|^2 + |g|^2 - 2 q.g`` shrinks), and pairs that come out very close are recomputed directly
from their difference, so results match a float64 reference to about 1e-5 relative.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dgreid.evaluation.metrics import EvaluationError

METRICS = ("euclidean", "cosine")
#: Euclidean pairs with d^2 below this fraction of |q|^2 + |g|^2 are recomputed directly.
_CLOSE = 0.05


def compute_distance(
    qf: Any, gf: Any, metric: str = "euclidean", chunk_size: int = 1024
) -> torch.Tensor:
    """Distance matrix (num_query x num_gallery, float32, on the CPU).

    ``qf``/``gf`` are 2-D feature arrays (tensors or numpy); ``metric`` is ``"euclidean"``
    (L2 distance) or ``"cosine"`` (1 - cosine similarity, in [0, 2]). ``chunk_size`` queries
    are computed at a time on the device of ``qf``.
    """
    q, g = _prepare(qf, gf, metric)
    step = _positive("chunk_size", chunk_size)
    gn = (g * g).sum(1)
    if q.device.type == "cpu":
        out = torch.empty(q.shape[0], g.shape[0], dtype=torch.float32)
        for s in range(0, q.shape[0], step):
            _block(q[s : s + step], g, gn, metric, out=out[s : s + step])
        return out
    return torch.cat([_block(q[s : s + step], g, gn, metric).cpu() for s in range(0, len(q), step)])


def topk_search(
    qf: Any,
    gf: Any,
    k: int,
    metric: str = "euclidean",
    chunk_size: int = 1024,
    gallery_chunk_size: int = 16384,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest gallery items of every query: ``(distances, indices)``, both
    ``num_query x min(k, num_gallery)`` on the CPU (float32 and int64), nearest first.

    Distances are those of :func:`compute_distance`; equal distances are ordered by gallery
    index, as in :func:`dgreid.evaluation.evaluate_rank`. Memory is bounded by one block of
    ``chunk_size x gallery_chunk_size`` distances plus the features, whatever the sizes.
    """
    q, g = _prepare(qf, gf, metric)
    k = min(_positive("k", k), g.shape[0])
    qstep = _positive("chunk_size", chunk_size)
    gstep = _positive("gallery_chunk_size", gallery_chunk_size)
    gn = (g * g).sum(1)
    dists, idxs = [], []
    for s in range(0, q.shape[0], qstep):
        qb = q[s : s + qstep]
        best_d = torch.empty(qb.shape[0], 0, device=q.device)
        best_i = torch.empty(qb.shape[0], 0, dtype=torch.long, device=q.device)
        buf = torch.empty(qb.shape[0], min(gstep, g.shape[0]), device=q.device)
        for t in range(0, g.shape[0], gstep):
            n = min(gstep, g.shape[0] - t)
            d = _block(
                qb, g[t : t + n], gn[t : t + n], metric, out=buf if n == buf.shape[1] else None
            )
            dv, di = smallest(d, min(k, d.shape[1]))
            best_d, best_i = _merge(best_d, best_i, dv, di + t, k)
        dists.append(best_d.cpu())
        idxs.append(best_i.cpu())
    return torch.cat(dists), torch.cat(idxs)


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise EvaluationError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _prepare(qf: Any, gf: Any, metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate and convert both feature sets to float32 tensors on ``qf``'s device."""
    if metric not in METRICS:
        raise EvaluationError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    q = qf if isinstance(qf, torch.Tensor) else torch.from_numpy(np.asarray(qf))
    g = gf if isinstance(gf, torch.Tensor) else torch.from_numpy(np.asarray(gf))
    for name, x in (("query features", q), ("gallery features", g)):
        if x.ndim != 2 or x.shape[0] == 0:
            raise EvaluationError(f"{name} must be 2-D and non-empty, got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise EvaluationError(f"{name} contain NaN or infinite values")
    if q.shape[1] != g.shape[1]:
        raise EvaluationError(
            f"query features have dimension {q.shape[1]} but gallery features {g.shape[1]}"
        )
    q = q.detach().to(torch.float32)
    g = g.detach().to(device=q.device, dtype=torch.float32)
    if metric == "cosine":
        return F.normalize(q, dim=1), F.normalize(g, dim=1)
    mean = g.double().mean(0).float()
    return q - mean, g - mean


def _block(
    q: torch.Tensor,
    g: torch.Tensor,
    gn: torch.Tensor,
    metric: str,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Distances of a block of (prepared) queries to a block of (prepared) gallery features,
    written into ``out`` when given (no large temporaries)."""
    if metric == "cosine":
        return torch.addmm(torch.ones((), device=q.device), q, g.T, alpha=-1.0, out=out)
    qn = (q * q).sum(1, keepdim=True)
    d2 = torch.addmm(gn[None, :], q, g.T, alpha=-2.0, out=out)
    d2.add_(qn).clamp_(min=0.0)
    # pairs that may be close (superset: uses the largest gallery norm), then the exact test
    maybe = (d2 < _CLOSE * (qn + gn.max())).nonzero()
    if maybe.shape[0]:
        r, c = maybe.unbind(1)
        keep = d2[r, c] < _CLOSE * (qn[r, 0] + gn[c])
        r, c = r[keep], c[keep]
        step = max(1, (1 << 22) // max(1, q.shape[1]))
        for s in range(0, r.shape[0], step):
            rs, cs = r[s : s + step], c[s : s + step]
            d2[rs, cs] = ((q[rs] - g[cs]) ** 2).sum(1)
    return d2.sqrt_()


def smallest(d: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest entries of each row, ordered by (value, column)."""
    vals, cols = torch.topk(d, k, dim=1, largest=False, sorted=False)
    kth = vals.max(dim=1, keepdim=True).values
    tied = (d <= kth).sum(1) > k  # topk may have picked any of several equal values
    if tied.any():
        rows = tied.nonzero()[:, 0]
        sub = d[rows]
        less = sub < kth[rows]
        eq_rank = (sub == kth[rows]).cumsum(1)
        pick = less | ((sub == kth[rows]) & (eq_rank <= k - less.sum(1, keepdim=True)))
        c = pick.nonzero()[:, 1].view(-1, k)
        cols[rows], vals[rows] = c, sub.gather(1, c)
    return _order(vals, cols)


def _order(vals: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort each row by (value, index)."""
    idx, perm = idx.sort(dim=1)
    vals = vals.gather(1, perm)
    vals, perm = vals.sort(dim=1, stable=True)
    return vals, idx.gather(1, perm)


def _merge(
    bd: torch.Tensor, bi: torch.Tensor, d: torch.Tensor, i: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``k`` best of two candidate sets, ordered by (distance, gallery index)."""
    vals, idx = _order(torch.cat([bd, d], 1), torch.cat([bi, i], 1))
    return vals[:, :k], idx[:, :k]
