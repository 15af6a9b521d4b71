"""Time ``dgreid synth`` on the default benchmark: prints images/second and total seconds.

    python bench/synth_speed.py [--scale 1.0] [--size 128x64] [--workers 2]

The issue's goal: the default benchmark (about 12k images at 128x64) in under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from dgreid.cli.synth_cmd import parse_size
from dgreid.data.synth import render_benchmark


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--size", default="128x64")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cpu0 = os.times()
        start = time.perf_counter()
        manifest = render_benchmark(
            tmp, 0, args.scale, parse_size(args.size), progress=False, workers=args.workers
        )
        secs = time.perf_counter() - start
        cpu1 = os.times()
    n = sum(d["images"] for d in manifest["domains"].values())
    cpu = (cpu1.user - cpu0.user) + (cpu1.children_user - cpu0.children_user)
    cpu += (cpu1.system - cpu0.system) + (cpu1.children_system - cpu0.children_system)
    print(f"synth: {n} images at {args.size}, scale {args.scale}, {os.cpu_count()} CPUs")
    print(f"total {secs:.1f} s wall, {cpu:.1f} s CPU, {n / secs:.0f} images/s")


if __name__ == "__main__":
    main()
