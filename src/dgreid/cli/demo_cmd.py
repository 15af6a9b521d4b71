"""``dgreid demo``: the main job on the synthetic benchmark, with a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from dgreid.cli.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="render the synthetic benchmark, train baseline / DualNorm / ours, compare, report",
    )
    p.add_argument("--out", default="demo_out", help="output folder (reused on a re-run)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a small budget (about 2 minutes); writes OUT/quick/, report OUT/quick/report.html",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the training")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    from dgreid.experiments.demo import DemoSettings, run_demo
    from dgreid.report.tables import text_table, verdict_lines

    result, report = run_demo(DemoSettings(Path(args.out), quick=args.quick, seed=args.seed))
    print("\n" + text_table(result))
    for line in verdict_lines(result):
        print(line)
    print(f"\nreport: {report.resolve()}")
    return 0
