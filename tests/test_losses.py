"""Losses against answers computed by hand (derivations in the loss docstrings)."""

from __future__ import annotations

import math

import pytest
import torch

from dgreid.losses import (
    batch_hard_triplet,
    consistency_loss,
    label_smoothed_ce,
    pairwise_euclidean,
)


def test_label_smoothed_ce_uniform_logits_is_log_c() -> None:
    logits = torch.zeros(3, 2)
    assert label_smoothed_ce(logits, torch.tensor([0, 1, 0])).item() == pytest.approx(math.log(2))


def test_label_smoothed_ce_hand_value() -> None:
    # p = (3/4, 1/4) for target 0: -(0.9 + 0.1/2) log(3/4) - (0.1/2) log(1/4)
    logits = torch.tensor([[math.log(3.0), 0.0]])
    expected = -(0.95 * math.log(0.75) + 0.05 * math.log(0.25))
    assert label_smoothed_ce(logits, torch.tensor([0]), 0.1).item() == pytest.approx(expected)
    # eps = 0 is plain cross-entropy
    assert label_smoothed_ce(logits, torch.tensor([0]), 0.0).item() == pytest.approx(
        -math.log(0.75)
    )


def test_label_smoothed_ce_matches_torch() -> None:
    torch.manual_seed(0)
    logits, y = torch.randn(5, 7), torch.randint(0, 7, (5,))
    ref = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1)
    assert label_smoothed_ce(logits, y, 0.1).item() == pytest.approx(ref.item(), rel=1e-6)


def test_pairwise_euclidean_3_4_5() -> None:
    d = pairwise_euclidean(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
    assert torch.allclose(d, torch.tensor([[0.0, 5.0], [5.0, 0.0]]), atol=1e-5)


def test_batch_hard_triplet_four_points() -> None:
    pts = torch.tensor([[0.0, 0.0], [0.0, 2.0], [1.0, 0.0], [3.0, 0.0]], requires_grad=True)
    pids = torch.tensor([0, 0, 1, 1])
    loss = batch_hard_triplet(pts, pids, margin=0.3)
    assert loss.item() == pytest.approx((4.9 - math.sqrt(5.0)) / 4, abs=1e-5)
    loss.backward()
    assert pts.grad is not None and torch.isfinite(pts.grad).all()
    # anchor 3 is inactive (hinge 0) but still pulls/pushes as others' hardest sample
    assert pts.grad.abs().sum() > 0


def test_batch_hard_triplet_zero_when_separated_and_no_negatives() -> None:
    pts = torch.tensor([[0.0, 0.0], [0.0, 0.1], [10.0, 0.0], [10.0, 0.1]])
    assert batch_hard_triplet(pts, torch.tensor([0, 0, 1, 1])).item() == 0.0
    one_id = batch_hard_triplet(pts, torch.tensor([0, 0, 0, 0]))
    assert one_id.item() == 0.0


def test_consistency_loss_hand_value() -> None:
    a = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[3.0, 4.0], [1.0, 2.0]])
    assert consistency_loss(a, b).item() == pytest.approx(13.0)
    with pytest.raises(ValueError):
        consistency_loss(a, b[:1])
