"""k-reciprocal re-ranking speed: dgreid's torch version against a row-by-row numpy one.

Times are CPU seconds of the process (run it with one thread: OMP_NUM_THREADS=1), so work of
other processes on the same core does not count; wall seconds are printed beside them.

The numpy side follows the published algorithm the way the widely used numpy implementations
are written (the full pooled matrix argsorted, a Python loop over its rows with ``np.where``,
``np.intersect1d`` and ``np.unique``, a dense ``N x N`` weight matrix, an inverted index of its
columns); it is written here from the paper's description and keeps weights in float32. Both
sides get the same three distance matrices (Euclidean, from clustered random features: a few
images per identity, as in a re-ID gallery) and their outputs are compared.

    python bench/rerank_speed.py                 # Market-1501 size: 3,368 x 15,913, 2048-d
    python bench/rerank_speed.py --small         # 300 x 1,500, a few seconds
    python bench/rerank_speed.py --num-query 1000 --num-gallery 5000 --dim 256
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from dgreid.evaluation.distance import compute_distance
from dgreid.evaluation.rerank import K1, K2, LAMBDA, k_reciprocal_rerank


def numpy_rerank(
    q_g: np.ndarray, q_q: np.ndarray, g_g: np.ndarray, k1: int, k2: int, lambda_value: float
) -> np.ndarray:
    """The published algorithm, one pooled item at a time (float32 throughout)."""
    nq = q_g.shape[0]
    top = np.concatenate([q_q, q_g], axis=1)
    bottom = np.concatenate([q_g.T, g_g], axis=1)
    dist = np.square(np.concatenate([top, bottom], axis=0)).astype(np.float32)
    del top, bottom
    dist = np.transpose(dist / np.max(dist, axis=0))
    n = dist.shape[0]
    rank = np.argsort(dist, axis=1, kind="stable").astype(np.int32)
    v = np.zeros((n, n), dtype=np.float32)
    half = int(round(k1 / 2))
    for p in range(n):
        forward = rank[p, : k1 + 1]
        backward = rank[forward, : k1 + 1]
        recip = forward[np.where(backward == p)[0]]
        expanded = recip
        for c in recip:
            c_forward = rank[c, : half + 1]
            c_backward = rank[c_forward, : half + 1]
            c_recip = c_forward[np.where(c_backward == c)[0]]
            if len(np.intersect1d(c_recip, recip)) > 2 / 3 * len(c_recip):
                expanded = np.append(expanded, c_recip)
        expanded = np.unique(expanded)
        w = np.exp(-dist[p, expanded])
        v[p, expanded] = w / np.sum(w)
    original = dist[:nq, nq:].copy()
    del dist
    if k2 != 1:
        v_qe = np.zeros_like(v)
        for p in range(n):
            v_qe[p] = np.mean(v[rank[p, :k2]], axis=0)
        v = v_qe
        del v_qe
    del rank
    inverted = [np.where(v[:, x] != 0)[0] for x in range(n)]
    jaccard = np.zeros((nq, n), dtype=np.float32)
    for i in range(nq):
        shared = np.zeros(n, dtype=np.float32)
        nonzero = np.where(v[i] != 0)[0]
        for x in nonzero:
            others = inverted[x]
            shared[others] += np.minimum(v[i, x], v[others, x])
        jaccard[i] = 1 - shared / (2 - shared)
    return jaccard[:, nq:] * (1 - lambda_value) + original * lambda_value


def features(num: int, dim: int, ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-identity centres plus noise: images of one identity lie close together."""
    centres = np.random.default_rng(1).standard_normal((int(ids.max()) + 1, dim))
    return (centres[ids] + 0.8 * rng.standard_normal((num, dim))).astype(np.float32)


def timed(run: Callable[[], Any], name: str) -> tuple[Any, float]:
    """``run()`` and its CPU time (this process's, so other work on the core does not count;
    one thread, so it is also the time alone on the core)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{name:8s} {cpu:8.1f}s CPU ({wall:.1f}s wall)", flush=True)
    return out, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-query", type=int, default=3368)
    p.add_argument("--num-gallery", type=int, default=15913)
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--ids", type=int, default=751, help="identities the features cluster by")
    p.add_argument("--small", action="store_true", help="300 queries x 1,500 gallery, 256-d")
    p.add_argument("--skip-numpy", action="store_true", help="time the torch version alone")
    args = p.parse_args()
    if args.small:
        args.num_query, args.num_gallery, args.dim, args.ids = 300, 1500, 256, 100
    rng = np.random.default_rng(0)
    qf = features(args.num_query, args.dim, rng.integers(0, args.ids, args.num_query), rng)
    gf = features(args.num_gallery, args.dim, rng.integers(0, args.ids, args.num_gallery), rng)
    t0 = time.perf_counter()
    q_g, q_q, g_g = (compute_distance(a, b) for a, b in ((qf, gf), (qf, qf), (gf, gf)))
    print(
        f"{args.num_query} queries x {args.num_gallery} gallery, {args.dim}-d, "
        f"{torch.get_num_threads()} torch thread(s); distances {time.perf_counter() - t0:.1f}s"
    )
    ours, t_torch = timed(lambda: k_reciprocal_rerank(q_g, q_q, g_g, K1, K2, LAMBDA), "dgreid")
    if args.skip_numpy:
        return
    ref, t_numpy = timed(
        lambda: numpy_rerank(q_g.numpy(), q_q.numpy(), g_g.numpy(), K1, K2, LAMBDA), "numpy"
    )
    diff = float(np.abs(ours.numpy() - ref).max())
    same_top1 = float((ours.argmin(1).numpy() == ref.argmin(1)).mean())
    print(f"dgreid / numpy CPU time: {t_torch / t_numpy:.3f}")
    print(f"max |torch - numpy| = {diff:.2e}; same nearest gallery item for {same_top1:.1%}")


if __name__ == "__main__":
    main()
