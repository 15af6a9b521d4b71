"""``dgreid runs DIR``: every run folder under DIR in one table."""

from __future__ import annotations

import argparse
import sys

from dgreid.cli.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runs",
        help="list the run folders under a folder: method, differing config keys, seed, "
        "iterations, time, rank-1 / mAP per target",
    )
    p.add_argument("dir", help="a folder searched recursively for run folders")
    p.add_argument(
        "--csv",
        action="store_true",
        help="write the table as CSV to stdout (e.g. dgreid runs DIR --csv > runs.csv)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    from dgreid.experiments.runlist import runs_table
    from dgreid.report.runs_table import problems, runs_csv, runs_text

    table = runs_table(args.dir)
    if args.csv:
        sys.stdout.write(runs_csv(table))
        for line in problems(table.runs):
            print(line, file=sys.stderr)
    else:
        print(runs_text(table))
    return 0
