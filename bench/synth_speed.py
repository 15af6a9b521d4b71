"""Time ``dgreid synth`` on the default benchmark: prints images/second and total seconds for
each generator version (versions 2 and 3 with every shift family on, unless ``--shifts`` says).

    python bench/synth_speed.py [--scale 1.0] [--size 128x64] [--workers 2]
                                [--versions 1 2] [--shifts all]

The goal: the default benchmark (about 12k images at 128x64) in under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from dgreid.cli.synth_cmd import parse_size
from dgreid.data.synth import VERSIONS, parse_shifts, render_benchmark
from dgreid.data.synth.writer import describe_generator


def time_render(
    version: int, shifts: tuple[str, ...], scale: float, size: tuple[int, int], workers: int | None
) -> tuple[int, float, float]:
    """Images rendered, wall seconds and CPU seconds (this process and its workers)."""
    with tempfile.TemporaryDirectory() as tmp:
        cpu0 = os.times()
        start = time.perf_counter()
        manifest = render_benchmark(
            tmp, 0, scale, size, progress=False, workers=workers, version=version, shifts=shifts
        )
        secs = time.perf_counter() - start
        cpu1 = os.times()
    n = sum(d["images"] for d in manifest["domains"].values())
    cpu = (cpu1.user - cpu0.user) + (cpu1.children_user - cpu0.children_user)
    cpu += (cpu1.system - cpu0.system) + (cpu1.children_system - cpu0.children_system)
    return n, secs, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--size", default="128x64")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--versions", type=int, nargs="+", default=list(VERSIONS))
    ap.add_argument("--shifts", default="all", help="versions 2 and 3's families (default all)")
    args = ap.parse_args()
    workers = args.workers or min(2, os.cpu_count() or 1)
    print(f"synth at {args.size}, scale {args.scale}, {workers} workers, {os.cpu_count()} CPUs")
    for version in args.versions:
        shifts = parse_shifts(args.shifts, version)
        n, secs, cpu = time_render(version, shifts, args.scale, parse_size(args.size), workers)
        print(
            f"{describe_generator(version, shifts)}: {n} images, total {secs:.1f} s wall, "
            f"{cpu:.1f} s CPU, {n / secs:.0f} images/s"
        )


if __name__ == "__main__":
    main()
