"""k-reciprocal re-ranking: a case worked by hand, a plain-loop reading of the paper on random
cases, and the properties and refusals of the vectorised version."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dgreid.evaluation import Rerank, RerankError, check_rerank_size, k_reciprocal_rerank
from dgreid.evaluation.rerank import K1, K2, LAMBDA, rerank_bytes

# Pool p0, p1 = queries q0, q1; p2..p5 = gallery g0..g3. A symmetric distance matrix with no two
# equal distances in a row (not a metric; the method does not need one):
#        p0 p1 p2 p3 p4 p5
# p0  [  0, 8, 2, 5, 7, 9 ]
# p1  [  8, 0, 6, 3, 1, 4 ]
# p2  [  2, 6, 0, 4, 9, 5 ]
# p3  [  5, 3, 4, 0, 6, 8 ]
# p4  [  7, 1, 9, 6, 0, 2 ]
# p5  [  9, 4, 5, 8, 2, 0 ]
HAND = np.array(
    [
        [0, 8, 2, 5, 7, 9],
        [8, 0, 6, 3, 1, 4],
        [2, 6, 0, 4, 9, 5],
        [5, 3, 4, 0, 6, 8],
        [7, 1, 9, 6, 0, 2],
        [9, 4, 5, 8, 2, 0],
    ],
    dtype=np.float32,
)


def blocks(d: np.ndarray, nq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return d[:nq, nq:], d[:nq, :nq], d[nq:, nq:]


def test_hand_worked_case() -> None:
    # k1=2, k2=2, lambda=0.3.
    # Column maxima 9, 8, 9, 8, 9, 9, so D = d^2 / max^2, e.g. D[p0] = [0, 64, 4, 25, 49, 81] / 81
    # and D[p1] = [64, 0, 36, 9, 1, 16] / 64.
    # k1 + 1 = 3 nearest (self first): N(0)=0,2,3  N(1)=1,4,3  N(2)=2,0,3  N(3)=3,1,2
    #                                  N(4)=4,1,5  N(5)=5,4,1
    # k-reciprocal R(p, 2) (x in N(p) with p in N(x)): 3 not (N(3) lacks 0), 5 not (N(1) lacks 5):
    #   R0={0,2}  R1={1,3,4}  R2={0,2,3}  R3={1,2,3}  R4={1,4,5}  R5={4,5}
    # R(c, 1) with round(2/2) + 1 = 2 nearest: mutual nearest pairs (0,2) and (1,4):
    #   R(0,1)=R(2,1)={0,2}  R(1,1)=R(4,1)={1,4}  R(3,1)={3}  R(5,1)={5}
    # Expansion adds R(c, 1) when more than 2/3 of it is in R(p, 2): for p3, c=1 brings {1,4}
    # with only 1 in R3 (1 > 4/3 fails), c=2 brings {0,2} (the same): no set grows here.
    # V[p] = exp(-D[p, x]) over R(p), normalised:
    a = math.exp(-4 / 81)  # D[0,2] = D[2,0] = D[5,4] = D[4,5]
    v0 = {0: 1 / (1 + a), 2: a / (1 + a)}  # 0.512343, 0.487657
    s2 = a + 1 + math.exp(-16 / 81)
    v2 = {0: a / s2, 2: 1 / s2, 3: math.exp(-16 / 81) / s2}  # 0.343297, 0.360676, 0.296027
    s1 = 1 + math.exp(-9 / 64) + math.exp(-1 / 64)
    v1 = {1: 1 / s1, 3: math.exp(-9 / 64) / s1, 4: math.exp(-1 / 64) / s1}
    s3 = math.exp(-9 / 64) + math.exp(-16 / 64) + 1
    v3 = {1: math.exp(-9 / 64) / s3, 2: math.exp(-16 / 64) / s3, 3: 1 / s3}
    s4 = math.exp(-1 / 81) + 1 + a
    v4 = {1: math.exp(-1 / 81) / s4, 4: 1 / s4, 5: a / s4}
    v5 = {4: a / (1 + a), 5: 1 / (1 + a)}
    # k2 = 2: each V averaged with its nearest other item's: 0<-2, 1<-4, 2<-0, 3<-1, 4<-1, 5<-4,
    # so V'0 = V'2 (support {0,2,3}), V'1 = V'4 (support {1,3,4,5}), V'3 over {1,2,3,4},
    # V'5 over {1,4,5}.

    def mean(x: dict, y: dict) -> dict:
        return {k: (x.get(k, 0.0) + y.get(k, 0.0)) / 2 for k in {*x, *y}}

    w0, w1, w3, w5 = mean(v0, v2), mean(v1, v4), mean(v3, v1), mean(v5, v4)
    # shared sum of minima, m, and Jaccard distance 1 - m / (2 - m):
    # (q0,g0): V'2 = V'0, m = 1 -> 0.  (q0,g3): no shared item -> 1.  (q1,g2): V'4 = V'1 -> 0.
    m_q0_g1 = min(w0[2], w3[2]) + min(w0[3], w3[3])  # 0.147076 + 0.148013 = 0.295089
    m_q0_g2 = min(w0[3], w1[3])  # 0.148013
    m_q1_g0 = min(w1[3], w0[3])  # 0.148013
    m_q1_g1 = min(w1[1], w3[1]) + min(w1[3], w3[3]) + min(w1[4], w3[4])  # 0.664075
    m_q1_g3 = min(w1[1], w5[1]) + min(w1[4], w5[4]) + min(w1[5], w5[5])  # 0.672518

    def jac(m: float) -> float:
        return 1 - m / (2 - m)

    jaccard = [
        [0.0, jac(m_q0_g1), jac(m_q0_g2), 1.0],
        [jac(m_q1_g0), jac(m_q1_g1), 0.0, jac(m_q1_g3)],
    ]
    original = [[4 / 81, 25 / 81, 49 / 81, 81 / 81], [36 / 64, 9 / 64, 1 / 64, 16 / 64]]
    expected = 0.7 * np.array(jaccard) + 0.3 * np.array(original)
    # the same numbers, read off a calculator
    calculator = [[0.014815, 0.671435, 0.825537, 1.0], [0.812805, 0.394224, 0.004687, 0.420372]]
    assert expected == pytest.approx(np.array(calculator), abs=1e-6)
    got = k_reciprocal_rerank(*blocks(HAND, 2), k1=2, k2=2, lambda_value=0.3)
    assert got.dtype == torch.float32 and tuple(got.shape) == (2, 4)
    assert got.numpy() == pytest.approx(expected, abs=1e-6)
    # k2 = 1: no query expansion, so V itself: (q0, g0) share {0, 2} fully
    m = min(v0[0], v2[0]) + min(v0[2], v2[2])
    once = k_reciprocal_rerank(*blocks(HAND, 2), k1=2, k2=1, lambda_value=0.3)
    assert float(once[0, 0]) == pytest.approx(0.7 * jac(m) + 0.3 * 4 / 81, abs=1e-6)


def loop_rerank(d: np.ndarray, nq: int, k1: int, k2: int, lam: float) -> tuple[np.ndarray, int]:
    """The paper's steps with Python sets, one item at a time (float64), and how many sets the
    expansion step made larger."""
    d2 = d.astype(np.float64) ** 2
    dist = (d2 / d2.max(0)).T
    n = len(d)
    order = [sorted(range(n), key=lambda x: (dist[p, x], x)) for p in range(n)]

    def recip(p: int, k: int) -> set[int]:
        return {x for x in order[p][: k + 1] if p in order[x][: k + 1]}

    grown = 0
    v = np.zeros((n, n))
    for p in range(n):
        r = recip(p, k1)
        members = set(r)
        for c in r:
            rc = recip(c, round(k1 / 2))
            if len(rc & r) > 2 / 3 * len(rc):
                members |= rc
        grown += len(members) > len(r)
        idx = sorted(members)
        w = np.exp(-dist[p, idx])
        v[p, idx] = w / w.sum()
    if k2 != 1:
        v = np.stack([v[order[p][:k2]].mean(0) for p in range(n)])
    m = np.minimum(v[:nq, None, :], v[None, nq:, :]).sum(-1)
    return (1 - lam) * (1 - m / (2 - m)) + lam * dist[:nq, nq:], grown


def test_matches_a_plain_loop_reading_of_the_paper() -> None:
    rng = np.random.default_rng(0)
    grown = 0
    for case in range(12):
        nq, ng = int(rng.integers(3, 10)), int(rng.integers(20, 50))
        n = nq + ng
        ids = rng.integers(0, 6, n)  # clusters, so that neighbour sets overlap
        x = rng.standard_normal((6, 4))[ids] + 0.5 * rng.standard_normal((n, 4))
        if case % 3 == 0:
            x = np.round(x)  # many equal distances: ties are broken by index
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        k1, k2, lam = int(rng.integers(4, 14)), int(rng.integers(1, 7)), float(rng.random())
        want, g = loop_rerank(d, nq, k1, k2, lam)
        grown += g
        got = k_reciprocal_rerank(*blocks(d, nq), k1=k1, k2=k2, lambda_value=lam)
        assert got.numpy() == pytest.approx(want, abs=2e-6), (case, k1, k2)
    assert grown > 0  # the expansion step was exercised


def random_blocks(nq: int = 6, ng: int = 30, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(nq + ng, 8, generator=g)
    d = torch.cdist(f, f)
    return d[:nq, nq:], d[:nq, :nq], d[nq:, nq:]


def test_lambda_one_is_the_normalised_original_distance() -> None:
    qg, qq, gg = random_blocks()
    got = k_reciprocal_rerank(qg, qq, gg, lambda_value=1.0)
    colmax = torch.maximum(qq.amax(0), qg.amax(1))  # each query's column of the stacked matrix
    assert got.numpy() == pytest.approx((qg**2 / colmax[:, None] ** 2).numpy(), rel=1e-6)
    assert torch.equal(got.argsort(1), qg.argsort(1))


def test_lambda_zero_is_a_jaccard_distance() -> None:
    got = k_reciprocal_rerank(*random_blocks(ng=60), k1=3, k2=1, lambda_value=0.0)
    assert float(got.min()) >= 0.0 and float(got.max()) <= 1.0 + 1e-6
    assert float(got.max()) == pytest.approx(1.0)  # some pairs share no neighbour


def test_numpy_and_torch_inputs_agree_and_order_does_not_matter() -> None:
    qg, qq, gg = random_blocks(seed=1)
    base = k_reciprocal_rerank(qg, qq, gg)
    assert torch.equal(base, k_reciprocal_rerank(qg.numpy(), qq.numpy(), gg.numpy()))
    assert torch.equal(base, k_reciprocal_rerank(qg.double(), qq.double(), gg.double()))
    gp, qp = torch.randperm(30), torch.randperm(6)
    permuted = k_reciprocal_rerank(qg[qp][:, gp], qq[qp][:, qp], gg[gp][:, gp])
    assert permuted.numpy() == pytest.approx(base[qp][:, gp].numpy(), abs=1e-6)


def test_symmetric_inputs_give_a_symmetric_jaccard_distance() -> None:
    # With a symmetric pooled matrix the neighbour sets and weights belong to the pool, not to
    # the query or gallery role: swapping the roles transposes the Jaccard part (lambda = 0)
    # but not the original part, which is normalised per query.
    qg, qq, gg = random_blocks(nq=7, ng=9, seed=2)
    there = k_reciprocal_rerank(qg, qq, gg, k1=4, k2=3, lambda_value=0.0)
    back = k_reciprocal_rerank(qg.T, gg, qq, k1=4, k2=3, lambda_value=0.0)
    assert back.shape == (9, 7)
    assert back.numpy() == pytest.approx(there.T.numpy(), abs=1e-6)
    assert float((there < 1).float().mean()) > 0.2  # not all pairs trivially apart
    blended = k_reciprocal_rerank(qg, qq, gg, k1=4, k2=3, lambda_value=0.5)
    blended_back = k_reciprocal_rerank(qg.T, gg, qq, k1=4, k2=3, lambda_value=0.5)
    assert not torch.allclose(blended_back, blended.T)


def test_published_defaults_everywhere() -> None:
    from dgreid.config import Config
    from dgreid.config.schema import EvalConfig
    from dgreid.experiments.evaluate import rerank_of

    assert (K1, K2, LAMBDA) == (20, 6, 0.3)
    e = EvalConfig()
    assert e.rerank is False and (e.rerank_k1, e.rerank_k2, e.rerank_lambda) == (K1, K2, LAMBDA)
    cfg = Config()
    assert rerank_of(cfg) is None
    cfg.eval.rerank = True
    assert rerank_of(cfg) == Rerank() == Rerank(20, 6, 0.3)


def test_size_refusal_names_the_sizes_and_limit() -> None:
    assert rerank_bytes(3368, 15913) == 4 * 19281**2
    check_rerank_size(3368, 15913)  # Market-1501 fits the default limit
    with pytest.raises(RerankError, match=r"3368 queries x 15913 gallery.*1\.38 GiB.*1\.00 GiB"):
        check_rerank_size(3368, 15913, max_bytes=1 << 30)
    with pytest.raises(RerankError, match=r"6 queries x 30 gallery.*limit"):
        k_reciprocal_rerank(*random_blocks(), max_bytes=1000)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: (b[0][:, :-1], b[1], b[2]), r"g_g 29x29; got q_q \(6, 6\) and g_g \(30, 30\)"),
        (lambda b: (b[0], b[1], b[2].fill_(float("nan"))), r"g_g holds NaN"),
        (lambda b: (b[0] - 100.0, b[1], b[2]), r"q_g holds negative distances"),
        (lambda b: (b[0][0], b[1], b[2]), r"q_g must be a non-empty 2-D"),
    ],
)
def test_bad_inputs_are_refused(change, message) -> None:
    with pytest.raises(RerankError, match=message):
        k_reciprocal_rerank(*change([t.clone() for t in random_blocks()]))


@pytest.mark.parametrize(
    "params", [dict(k1=0), dict(k2=0), dict(k1=2.5), dict(lambda_value=1.5), dict(k2=True)]
)
def test_bad_parameters_are_refused(params) -> None:
    with pytest.raises(RerankError, match="re-ranking"):
        k_reciprocal_rerank(*random_blocks(), **params)


def test_rounding_negatives_are_zero() -> None:
    qg, qq, gg = random_blocks()
    qq_neg = qq.clone()
    qq_neg.fill_diagonal_(-1e-7)  # 1 - cos(x, x) in float32
    before = qq_neg.clone()
    got = k_reciprocal_rerank(qg, qq_neg, gg)
    assert torch.equal(got, k_reciprocal_rerank(qg, qq, gg))
    assert torch.equal(qq_neg, before)  # the caller's matrix is left alone
