"""Gallery search speed: queries/second and peak memory, exact torch vs faiss flat vs faiss IVF.

1,000 random 512-d queries against 100k and 1M random 512-d gallery features, top-20, Euclidean.
Build = index build and save; reload = fingerprint check and read of the saved index (what a
second ``dgreid search`` pays); search = the 1,000 queries alone. Each (gallery size, path) runs
in its own process so that its peak resident memory is its own; "search extra" is the peak minus
the resident size once the features exist. IVF recall@20 is
measured against the exact top-20 (random Gaussian features have no cluster structure, the hardest
case for IVF; real re-ID features cluster by identity).

    .venv/bin/python bench/search_speed.py [--sizes 100000 1000000] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM, NQ, K = 512, 1000, 20
PATHS = ("torch-exact", "faiss-flat", "faiss-ivf")


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(n: int, path: str, device: str, workdir: Path) -> dict:
    """One measurement (runs in a child process)."""
    import torch

    from dgreid.deploy.faiss_index import GalleryIndex, IndexSpec
    from dgreid.deploy.search import Ranking, exact_search

    rng = np.random.default_rng(0)
    gallery = rng.standard_normal((n, DIM), dtype=np.float32)
    query = rng.standard_normal((NQ, DIM), dtype=np.float32)
    base = _rss_mib()
    build = reload = 0.0
    if path == "torch-exact":
        exact_search(query[:8], gallery[:1000], K, device=device)  # warm-up
        t0 = time.perf_counter()
        r = exact_search(query, gallery, K, device=device, chunk=1000)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        search = time.perf_counter() - t0
        np.save(workdir / f"exact_{n}.npy", r.indices)
    else:
        spec = IndexSpec(kind="ivf" if path == "faiss-ivf" else "flat", metric="euclidean")
        index_file = workdir / f"{spec.kind}_{n}.faiss"
        t0 = time.perf_counter()
        GalleryIndex.build(gallery, spec).save(index_file)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = GalleryIndex.load_if_matching(index_file, gallery, spec)  # fingerprint + read
        reload = time.perf_counter() - t0
        assert index is not None
        t0 = time.perf_counter()
        dist, idx = index.search(query, K)
        search = time.perf_counter() - t0
        r = Ranking(dist, idx)
    out = {
        "n": n,
        "path": path,
        "build_s": build,
        "reload_s": reload,
        "search_s": search,
        "qps": NQ / search,
        "peak_mib": _peak_mib(),
        "extra_mib": _peak_mib() - base,
    }
    ref = workdir / f"exact_{n}.npy"
    if path != "torch-exact" and ref.is_file():
        exact = np.load(ref)
        hits = sum(len(set(a) & set(b)) for a, b in zip(exact, r.indices))
        out["recall"] = hits / exact.size
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    ap.add_argument("--device", default="cpu", help="device of the exact torch path")
    ap.add_argument("--case", nargs=3, metavar=("N", "PATH", "WORKDIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        n, path, workdir = args.case
        print(json.dumps(run_case(int(n), path, args.device, Path(workdir))))
        return
    import torch

    print(
        f"search speed: {NQ} queries x N gallery, {DIM}-d, top-{K}, euclidean; torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), exact torch on {args.device}"
    )
    print(
        "| gallery | path | build s | reload s | search s | queries/s | peak RSS MiB "
        "| search extra MiB | recall@20 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for path in args.paths:
                cmd = [
                    sys.executable,
                    __file__,
                    "--device",
                    args.device,
                    "--case",
                    str(n),
                    path,
                    tmp,
                ]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"| {n:,} | {path} | failed: {proc.stderr.strip().splitlines()[-1]} |")
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                recall = f"{r['recall']:.3f}" if "recall" in r else "exact"
                print(
                    f"| {n:,} | {path} | {r['build_s']:.1f} | {r['reload_s']:.1f} | "
                    f"{r['search_s']:.2f} | "
                    f"{r['qps']:,.0f} | {r['peak_mib']:,.0f} | {r['extra_mib']:,.0f} | {recall} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
