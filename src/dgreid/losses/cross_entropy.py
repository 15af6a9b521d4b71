"""Label-smoothed identity cross-entropy."""

from __future__ import annotations

import torch


def label_smoothed_ce(
    logits: torch.Tensor, targets: torch.Tensor, eps: float = 0.1
) -> torch.Tensor:
    """Cross-entropy against the smoothed target ``q = (1 - eps) * onehot(y) + eps / C``.

    Derivation: ``loss_b = -sum_c q_c log p_bc = -(1 - eps) log p_by - (eps / C) sum_c log p_bc``,
    averaged over the batch. With two classes, logits (0, 0) and eps = 0.1 every ``log p`` is
    ``log 1/2`` so the loss is ``log 2`` whatever the target; with logits (log 3, 0), target 0,
    ``p = (3/4, 1/4)`` and the loss is ``-(0.95 log 3/4 + 0.05 log 1/4)``.
    """
    if logits.dim() != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(
            f"expected logits (B, C) and targets (B,), got {logits.shape}, {targets.shape}"
        )
    log_p = torch.log_softmax(logits, dim=1)
    nll = -log_p.gather(1, targets.long().unsqueeze(1)).squeeze(1)
    uniform = -log_p.mean(dim=1)
    return ((1.0 - eps) * nll + eps * uniform).mean()
