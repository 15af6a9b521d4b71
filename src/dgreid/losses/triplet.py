"""Batch-hard triplet loss (Hermans et al. 2017) on Euclidean distances."""

from __future__ import annotations

import torch


def pairwise_euclidean(x: torch.Tensor) -> torch.Tensor:
    """``(B, D) -> (B, B)`` Euclidean distances, safe to differentiate (clamped before sqrt)."""
    sq = (x * x).sum(dim=1)
    d2 = sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * (x @ x.t())
    return d2.clamp(min=1e-12).sqrt()


def batch_hard_triplet(
    feats: torch.Tensor, pids: torch.Tensor, margin: float = 0.3
) -> torch.Tensor:
    """Mean over anchors of ``max(0, d(a, hardest positive) - d(a, hardest negative) + margin)``.

    The hardest positive is the farthest image of the anchor's identity, the hardest negative the
    closest image of any other identity, both within the batch. Anchors with no negative in the
    batch are skipped; an anchor alone in its identity has hardest positive distance ~0.

    Worked example (the test): points (0,0) and (0,2) of id 0, (1,0) and (3,0) of id 1,
    margin 0.3. Per anchor (d_ap, d_an): (2, 1), (2, sqrt 5), (2, 1), (2, 3); hinge terms
    1.3, 2.3 - sqrt 5, 1.3, 0; mean (4.9 - sqrt 5) / 4 ~ 0.66598.
    """
    dist = pairwise_euclidean(feats)
    same = pids.unsqueeze(0) == pids.unsqueeze(1)
    d_ap = torch.where(same, dist, torch.zeros_like(dist)).max(dim=1).values
    inf = torch.full_like(dist, float("inf"))
    d_an = torch.where(same, inf, dist).min(dim=1).values
    valid = torch.isfinite(d_an)
    if not bool(valid.any()):
        return feats.sum() * 0.0
    return torch.relu(d_ap[valid] - d_an[valid] + margin).mean()
