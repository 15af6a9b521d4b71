"""``dgreid`` entry point. Each subcommand lives in its own module with ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys

from dgreid import __version__
from dgreid.config import ConfigError
from dgreid.errors import DgreidError

#: Modules that add a subcommand, in the order ``--help`` lists them.
SUBCOMMANDS: list[str] = [
    "dgreid.cli.demo_cmd",
    "dgreid.cli.synth_cmd",
    "dgreid.cli.data_cmd",
    "dgreid.cli.train_cmd",
    "dgreid.cli.eval_cmd",
    "dgreid.cli.compare_cmd",
    "dgreid.cli.runs_cmd",
    "dgreid.cli.extract_cmd",
    "dgreid.cli.search_cmd",
    "dgreid.cli.export_cmd",
    "dgreid.cli.config_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dgreid",
        description="Domain-generalized person re-identification toolkit.",
    )
    parser.add_argument("--version", action="version", version=f"dgreid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in SUBCOMMANDS:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after flags (`train cfg.yaml --resume train.epochs=3`)
    if extra and isinstance(getattr(args, "overrides", None), list):
        strays = [a for a in extra if a.startswith("-") or "=" not in a]
        if not strays:
            args.overrides.extend(extra)
            extra = []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"dgreid: config error: {e}", file=sys.stderr)
        return 2
    except DgreidError as e:
        print(f"dgreid: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # its message, when it has one, says how to go on
        print(f"dgreid: {e}" if str(e) else "dgreid: interrupted", file=sys.stderr)
        return 130
