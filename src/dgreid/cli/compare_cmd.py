"""``dgreid compare SPEC``: every method of a spec on the same data, splits and budget."""

from __future__ import annotations

import argparse

from dgreid.cli.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="train (or reuse) every method of a comparison spec; print Tables III-V",
    )
    p.add_argument("spec", help="comparison spec, e.g. configs/synthetic/compare.yaml")
    p.add_argument("--seeds", type=int, nargs="+", help="override the spec's seeds")
    p.add_argument("--quick", action="store_true", help="apply the spec's 'quick' overrides")
    p.add_argument("--only", nargs="+", help="run only these methods of the spec")
    p.add_argument("--out", help="output folder (default: the spec's output_dir)")
    p.add_argument(
        "overrides",
        nargs="*",
        help="dotted overrides for every run, e.g. data.root=/data/reid (not output_dir: "
        "each run's folder comes from the spec)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    from dgreid.config import ConfigError
    from dgreid.experiments.compare import run_compare
    from dgreid.experiments.spec import load_spec
    from dgreid.report.tables import tables_markdown

    spec = load_spec(args.spec)
    if args.seeds:
        spec.seeds = list(args.seeds)
    if args.out:
        spec.output_dir = args.out
    if args.only:
        unknown = [m for m in args.only if m not in spec.methods]
        if unknown:
            raise ConfigError(
                f"--only {' '.join(unknown)}: not in {args.spec} (has {', '.join(spec.methods)})"
            )
        spec.methods = {m: spec.methods[m] for m in args.only}
    result = run_compare(spec, quick=args.quick, overrides=list(args.overrides))
    print("\n" + tables_markdown(result))
    for kind, path in result.files.items():
        print(f"{kind}: {path}")
    return 0
