"""The cross-domain consistency loss of the episodic method."""

from __future__ import annotations

import torch


def consistency_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the squared Euclidean distance ``||a_n - b_n||^2``.

    Example (the test): a = [(0,0), (1,1)], b = [(3,4), (1,2)] -> (25 + 1) / 2 = 13.
    """
    if a.shape != b.shape:
        raise ValueError(f"consistency_loss needs equal shapes, got {a.shape} and {b.shape}")
    return ((a - b) ** 2).sum(dim=1).mean()
