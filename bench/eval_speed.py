"""Time ``evaluate_rank`` on a Market-1501-sized problem and ``topk_search`` on a large one.

Run: ``python bench/eval_speed.py [--topk-queries N] [--topk-gallery N]``. Prints seconds and
peak resident memory (the distance matrix itself is included in the peak).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np
import torch

from dgreid.evaluation.distance import compute_distance, topk_search
from dgreid.evaluation.metrics import compute_rank_metrics


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def market_case(seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    nq, ng, ids, cams, dim = 3368, 15913, 751, 6, 128
    q_pids, g_pids = rng.integers(0, ids, nq), rng.integers(0, ids, ng)
    q_cams, g_cams = rng.integers(0, cams, nq), rng.integers(0, cams, ng)
    qf = torch.from_numpy(rng.standard_normal((nq, dim), dtype=np.float32))
    gf = torch.from_numpy(rng.standard_normal((ng, dim), dtype=np.float32))
    t0 = time.perf_counter()
    dist = compute_distance(qf, gf, metric="euclidean").numpy()
    t1 = time.perf_counter()
    before = peak_mib()
    c1 = time.process_time()
    m = compute_rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, max_rank=50)
    t2, c2 = time.perf_counter(), time.process_time()
    tracemalloc.start()
    compute_rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, max_rank=50)
    extra = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"market-sized {nq} x {ng}, {ids} ids, {cams} cams, threads={torch.get_num_threads()}")
    print(f"  compute_distance (dim {dim}): {t1 - t0:.2f} s")
    print(
        f"  evaluate_rank: {t2 - t1:.2f} s wall, {c2 - c1:.2f} s CPU   "
        f"rank-1 {m.cmc[0]:.4f}  mAP {m.mAP:.4f}  mINP {m.mINP:.4f}  skipped {m.num_skipped}"
    )
    print(f"  load average (1 min) during the run: {os.getloadavg()[0]:.1f}")
    print(f"  peak RSS {peak_mib():.0f} MiB (before evaluate_rank {before:.0f} MiB)")
    print(
        f"  evaluate_rank working memory (numpy, tracemalloc): {extra:.0f} MiB; "
        f"the distance matrix itself is {dist.nbytes / 2**20:.0f} MiB"
    )


def topk_case(nq: int, ng: int, k: int = 10, dim: int = 64) -> None:
    g = torch.Generator().manual_seed(0)
    qf, gf = torch.randn(nq, dim, generator=g), torch.randn(ng, dim, generator=g)
    before = peak_mib()
    t0 = time.perf_counter()
    d, i = topk_search(qf, gf, k, metric="cosine")
    dt = time.perf_counter() - t0
    full = nq * ng * 4 / 2**20
    print(f"topk_search {nq} x {ng}, k={k}, dim {dim}: {dt:.2f} s")
    print(
        f"  peak RSS {peak_mib():.0f} MiB (features {before:.0f} MiB before); a full float32 "
        f"distance matrix would need {full:.0f} MiB"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--topk-queries", type=int, default=2000)
    p.add_argument("--topk-gallery", type=int, default=200_000)
    a = p.parse_args()
    market_case()
    topk_case(a.topk_queries, a.topk_gallery)


if __name__ == "__main__":
    main()
