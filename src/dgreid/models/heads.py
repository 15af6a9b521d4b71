"""Heads on top of backbone features: the encoder E, classifiers, and gradient reversal."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Embedding(nn.Module):
    """E of the episodic method: FC-BN-ReLU-FC-BN; its output is the re-ID feature.

    The BatchNorms have no learnable scale and shift: E is shared
    by F(x) and the domain-biased F_j(x), and with a learnable scale the consistency and
    batch-hard triplet losses *on raw outputs* are cheapest to lower by shrinking E's output
    towards a constant, which also starves the id loss (measured: L_consis -> 0, L_tri ->
    margin, L_cls stuck at ln(#ids)). When those losses are computed on L2-normalised outputs
    (scale-free), shrinking buys nothing, but affine BatchNorms measured no better there.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.bn1 = nn.BatchNorm1d(hidden, affine=False)
        self.fc2 = nn.Linear(hidden, out_features)
        self.bn2 = nn.BatchNorm1d(out_features, affine=False)
        self.out_features = out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.fc2(torch.relu(self.bn1(self.fc1(x)))))


class _GradReverse(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by ``-weight``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.weight * grad, None


def grad_reverse(x: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Gradient-reversal layer (Ganin & Lempitsky): ``y = x``, ``dL/dx = -weight * dL/dy``."""
    return _GradReverse.apply(x, weight)


class DomainClassifier(nn.Module):
    """DANN's domain head: gradient reversal, then Linear-ReLU-Linear over the source domains."""

    def __init__(self, in_features: int, num_domains: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_domains)
        )

    def forward(self, x: torch.Tensor, reverse_weight: float) -> torch.Tensor:
        return self.net(grad_reverse(x, reverse_weight))
