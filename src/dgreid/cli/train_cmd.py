"""``dgreid train CONFIG [key=value ...]``: train, save the model, evaluate on the targets."""

from __future__ import annotations

import argparse
import shlex

from dgreid.cli.logs import setup_logging
from dgreid.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a method (config + overrides), then run the DG protocol on the targets",
        description="Train CONFIG (YAML) with dotted key=value overrides; works under torchrun.",
    )
    p.add_argument("config", help="YAML config, e.g. configs/synthetic/episodic.yaml")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.epochs=5")
    p.add_argument("--resume", action="store_true", help="continue the run in output_dir")
    p.add_argument("--overwrite", action="store_true", help="discard a run already in output_dir")
    p.add_argument("--no-eval", action="store_true", help="skip the target evaluation")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    cfg = load_config(args.config, args.overrides)
    from dgreid.engine.distributed import is_main_process
    from dgreid.experiments.train_run import run_training

    command = ["dgreid", "train", args.config, *args.overrides]
    result = run_training(
        cfg,
        resume=args.resume,
        overwrite=args.overwrite,
        evaluate=not args.no_eval,
        resume_hint=shlex.join([*command, "--resume"]),
        rerun_hint=shlex.join(command),
    )
    if is_main_process():  # once under torchrun
        print(f"\nrun folder: {result.out_dir}\nmodel: {result.model_path}")
    return 0
