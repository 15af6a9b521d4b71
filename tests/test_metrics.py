"""CMC / mAP / mINP: hand-computed cases and a randomized comparison with a plain loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dgreid.evaluation.metrics import EvaluationError, compute_rank_metrics, evaluate_rank


def reference_rank(dist, qp, gp, qc, gc, max_rank):
    """Plain per-query loop: stable sort, drop same pid+camera, score the remaining matches."""
    cmcs, aps, inps, skipped = [], [], [], 0
    for i in range(dist.shape[0]):
        order = np.argsort(dist[i], kind="stable")
        same = (gp[order] == qp[i]) & (gp[order] != -1)
        keep = ~(same & (gc[order] == qc[i]))
        hits = same[keep]
        if not hits.any():
            skipped += 1
            continue
        where = np.flatnonzero(hits)
        cmc = np.zeros(max_rank)
        cmc[min(where[0], max_rank) :] = 1.0
        cmcs.append(cmc)
        aps.append(np.mean((np.arange(len(where)) + 1) / (where + 1)))
        inps.append(len(where) / (where[-1] + 1))
    return np.mean(cmcs, axis=0), float(np.mean(aps)), float(np.mean(inps)), skipped


def test_hand_computed_3x4():
    """Gallery: g0 (pid 1, cam 1), g1 (pid 2, cam 1), g2 (pid 1, cam 0), g3 (pid 3, cam 1).

    q0 (pid 1, cam 0), d = [.3, .1, .2, .4]: g2 shares pid and camera -> removed. Ranked list
    g1, g0, g3: the match g0 is at rank 2. AP = 1/2, INP = 1/1 match / rank 2 = 1/2.
    q1 (pid 1, cam 2), d = [.2, .5, .4, .1]: ranked g3, g0, g2, g1: matches at ranks 2 and 3.
    AP = (1/2 + 2/3) / 2 = 7/12, INP = 2/3.
    q2 (pid 3, cam 0), d = [.7, .6, .8, .05]: g3 first. AP = 1, INP = 1.
    First-match ranks 2, 2, 1 -> CMC = [1/3, 1, 1, 1]; mAP = (1/2 + 7/12 + 1)/3 = 25/36;
    mINP = (1/2 + 2/3 + 1)/3 = 13/18.
    """
    d = np.array([[0.3, 0.1, 0.2, 0.4], [0.2, 0.5, 0.4, 0.1], [0.7, 0.6, 0.8, 0.05]])
    qp, gp = np.array([1, 1, 3]), np.array([1, 2, 1, 3])
    qc, gc = np.array([0, 2, 0]), np.array([1, 1, 0, 1])
    cmc, mAP, mINP = evaluate_rank(d, qp, gp, qc, gc, max_rank=4)
    np.testing.assert_allclose(cmc, [1 / 3, 1, 1, 1])
    assert mAP == pytest.approx(25 / 36)
    assert mINP == pytest.approx(13 / 18)
    m = compute_rank_metrics(d.astype(np.float32), qp, gp, qc, gc, max_rank=4)
    np.testing.assert_array_equal(m.first_match_rank, [1, 1, 0])
    np.testing.assert_allclose(m.ap, [1 / 2, 7 / 12, 1])


def test_same_camera_match_is_removed_and_query_skipped():
    """q0's only same-pid gallery item shares its camera: no valid match -> skipped, counted."""
    d = np.array([[0.1, 0.9], [0.2, 0.5]], dtype=np.float32)
    qp, gp = np.array([7, 8]), np.array([7, 8])
    qc, gc = np.array([0, 0]), np.array([0, 1])
    m = compute_rank_metrics(d, qp, gp, qc, gc, max_rank=2)
    assert (m.num_valid, m.num_skipped) == (1, 1)
    assert m.first_match_rank.tolist() == [-1, 1]
    np.testing.assert_allclose(m.cmc, [0.0, 1.0])
    assert m.mAP == pytest.approx(0.5)
    assert np.isnan(m.ap[0])


def test_ties_broken_by_gallery_index():
    """All distances equal: the ranked list is the gallery order, so a match at index 1 is
    rank 2 (AP 1/2) and a match at index 0 is rank 1."""
    d = np.full((2, 3), 0.5, dtype=np.float32)
    gp, gc = np.array([2, 1, 3]), np.array([1, 1, 1])
    cmc, mAP, _ = evaluate_rank(d, np.array([1, 2]), gp, np.array([0, 0]), gc, max_rank=3)
    np.testing.assert_allclose(cmc, [0.5, 1.0, 1.0])
    assert mAP == pytest.approx((0.5 + 1.0) / 2)


def test_distractor_pid_never_matches():
    d = np.array([[0.1, 0.2]], dtype=np.float32)
    cmc, mAP, _ = evaluate_rank(
        d, np.array([5]), np.array([-1, 5]), np.array([0]), np.array([1, 1])
    )
    assert cmc[0] == 0.0 and cmc[1] == 1.0 and mAP == pytest.approx(0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_loop_reference(dtype, seed):
    rng = np.random.default_rng(seed)
    nq, ng = 37, 211
    gp = rng.integers(-1, 15, ng)
    qp = rng.integers(-1, 17, nq)  # includes distractor-pid and unseen queries
    gc, qc = rng.integers(0, 3, ng), rng.integers(0, 3, nq)
    # coarse values: many exact ties, so the tie rule is exercised everywhere
    d = (rng.integers(0, 6, (nq, ng)) / 4).astype(dtype) if seed else rng.random((nq, ng))
    d = d.astype(dtype)
    m = compute_rank_metrics(d, qp, gp, qc, gc, max_rank=20, chunk_size=5, num_threads=2)
    cmc, mAP, mINP, skipped = reference_rank(d, qp, gp, qc, gc, 20)
    np.testing.assert_allclose(m.cmc, cmc, atol=1e-12)
    assert m.mAP == pytest.approx(mAP, abs=1e-12)
    assert m.mINP == pytest.approx(mINP, abs=1e-12)
    assert m.num_skipped == skipped


def test_accepts_torch_tensors():
    d = torch.tensor([[0.2, 0.1]])
    cmc, _, _ = evaluate_rank(d, torch.tensor([1]), torch.tensor([1, 2]), [0], [1, 1], max_rank=2)
    np.testing.assert_allclose(cmc, [0.0, 1.0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"distmat": np.zeros(3)}, "2-D"),
        ({"q_pids": np.array([1])}, "q_pids has 1 entries"),
        ({"g_camids": np.array([0, 1])}, "g_camids has 2 entries"),
        ({"distmat": np.array([[0.1, np.nan, 0.3], [0.1, 0.2, 0.3]])}, "NaN"),
        ({"q_pids": np.array([1.5, 2.0])}, "integers"),
        ({"max_rank": 0}, "max_rank"),
        ({"q_pids": np.array([9, 9])}, "no query has a valid match"),
    ],
)
def test_errors_say_what_is_wrong(kwargs, message):
    args = {
        "distmat": np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]]),
        "q_pids": np.array([1, 2]),
        "g_pids": np.array([1, 2, 3]),
        "q_camids": np.array([0, 0]),
        "g_camids": np.array([1, 1, 1]),
    }
    args.update(kwargs)
    with pytest.raises(EvaluationError, match=message):
        evaluate_rank(**args)
