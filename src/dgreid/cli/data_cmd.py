"""``dgreid data check``: is every dataset where it should be, laid out right, and readable?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dgreid.data.check import ALL_CUSTOM, check_datasets, format_report
from dgreid.data.datasets import DATASETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect datasets on disk")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    c = data_sub.add_parser(
        "check",
        help="report found / missing / malformed datasets and decode every image",
        description="For each dataset: found (ids, images, cameras), missing (the exact paths "
        "looked for) or malformed (the first offending files and what was expected); then "
        "decode every image and list unreadable ones. Exit code 0 only if all are fine.",
    )
    c.add_argument("--root", required=True, help="folder holding the datasets (data.root)")
    c.add_argument(
        "--datasets",
        nargs="+",
        metavar="NAME",
        help="names to check (default: every dataset whose folder exists under --root, "
        "ROOT/custom included); "
        "custom:NAME checks the folder ROOT/NAME, 'custom:*' every custom folder",
    )
    c.add_argument("--workers", type=int, default=0, help="decoding threads (0 = main thread)")
    c.add_argument("--no-decode", action="store_true", help="check layout only, skip decoding")
    c.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    decode = not args.no_decode
    if not Path(args.root).is_dir():
        what = "is not a folder" if Path(args.root).exists() else "does not exist"
        print(f"dgreid: error: --root {args.root} {what}", file=sys.stderr)
        return 1
    for name in args.datasets or []:
        if name == ALL_CUSTOM:
            continue
        try:
            DATASETS.get(name)
        except KeyError as e:
            print(f"dgreid: error: {e.args[0]}", file=sys.stderr)
            return 2
    statuses = check_datasets(
        args.root, args.datasets, decode=decode, workers=args.workers, progress=True
    )
    if not statuses:
        print(
            f"no dataset folder found under {args.root}; the layouts each loader reads are "
            "listed in the dgreid documentation (docs/datasets.md)"
        )
        return 1
    print(format_report(statuses, decoded=decode))
    return 0 if all(s.ok for s in statuses) else 1
