"""``dgreid config CONFIG [key=value ...]``: print the resolved config (checks it too)."""

from __future__ import annotations

import argparse

from dgreid.config.loader import dump_config, load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="validate a config and print it fully resolved")
    p.add_argument("config", nargs="?", help="YAML config file (defaults when omitted)")
    p.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path, overrides = args.config, list(args.overrides)
    if path is not None and "=" in path:  # only overrides were given
        path, overrides = None, [path, *overrides]
    cfg = load_config(path, overrides)
    print(dump_config(cfg), end="")
    return 0
