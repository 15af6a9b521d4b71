"""``dgreid synth --out DIR``: render the synthetic multi-domain benchmark (or a preview sheet)."""

from __future__ import annotations

import argparse
import time

from dgreid.errors import DgreidError


def parse_size(text: str) -> tuple[int, int]:
    """``128x64`` -> (128, 64) (height x width)."""
    try:
        h, w = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise DgreidError(f"--size: expected HxW such as 128x64, got {text!r}") from None
    return h, w


def requested_shifts(
    version: int, shifts: str | None, no_shift: list[str] | None
) -> tuple[str, ...]:
    """The families ``--shifts`` (default all) less ``--no-shift`` ones, checked for ``version``
    (version 1 has no switches: any of them is an error there)."""
    from dgreid.data.synth.shifts import parse_shifts, without

    on = without(parse_shifts(shifts), no_shift or [])
    return parse_shifts(on if shifts is not None or no_shift else None, version)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="render the synthetic multi-domain re-ID benchmark")
    p.add_argument("--out", help="output folder (gets synth-<domain>/ folders and synth.json)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of every random draw (default 0: the benchmark)"
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiplies the ids of the sources")
    p.add_argument("--size", default="128x64", help="image size HxW (default 128x64)")
    p.add_argument("--domains", nargs="+", metavar="NAME", help="render only these domains")
    p.add_argument("--preview", metavar="PNG", help="also write a contact sheet of every domain")
    p.add_argument(
        "--version",
        type=int,
        help="generator version (default: the latest, 3: version 2 with photometric levels "
        "calibrated on real cameras; 1 = the original, byte for byte)",
    )
    p.add_argument(
        "--shifts",
        metavar="A,B,...",
        help="versions 2 and 3's shift families to switch on: photometric, viewpoint, geometry, "
        "occlusion, background, resolution, population (default all; 'none' = every family "
        "at its neutral level, the same in every domain)",
    )
    p.add_argument(
        "--no-shift",
        action="append",
        metavar="NAME",
        help="switch this family off (neutral in every domain); repeatable",
    )
    p.add_argument("--workers", type=int, default=None, help="processes (default min(2, CPUs))")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dgreid.data.synth import render_benchmark, render_preview
    from dgreid.data.synth.shifts import VERSION, check_version
    from dgreid.data.synth.writer import describe_generator

    if not args.out and not args.preview:
        raise DgreidError("synth: give --out DIR and/or --preview PNG")
    size = parse_size(args.size)
    version = check_version(VERSION if args.version is None else args.version)
    shifts = requested_shifts(version, args.shifts, args.no_shift)
    if args.out:
        start = time.perf_counter()
        manifest = render_benchmark(
            args.out, args.seed, args.scale, size, args.domains, not args.quiet, args.workers,
            version=version, shifts=shifts,
        )  # fmt: skip
        total = sum(d["images"] for d in manifest["domains"].values())
        secs = time.perf_counter() - start
        for name, d in manifest["domains"].items():
            print(f"{name:14s} {d['role']:6s} ids {d['ids']:5d}  images {d['images']:5d}")
        print(f"generator: {describe_generator(version, shifts)}")
        print(f"wrote {total} images to {args.out} in {secs:.1f} s ({total / secs:.0f} images/s)")
    if args.preview:
        sheet = render_preview(args.preview, args.seed, size, version=version, shifts=shifts)
        print(f"preview: {sheet}")
    return 0
