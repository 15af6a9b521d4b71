"""``dgreid eval RUN_OR_MODEL``: re-run the DG protocol for a trained model."""

from __future__ import annotations

import argparse
from pathlib import Path

from dgreid.cli.extract_cmd import add_flip_argument
from dgreid.cli.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a run folder or model file on the target datasets (10-split protocol)",
    )
    p.add_argument("model", help="a run folder (with model.pt) or a model file")
    p.add_argument(
        "--targets",
        nargs="+",
        help="target datasets (default: the run's targets); one of the model's own sources is "
        "scored too, but labelled 'source domain, not unseen' (its score is not a DG score)",
    )
    p.add_argument("--root", help="data root (default: the run's data.root)")
    p.add_argument(
        "--splits",
        help="a splits.json to evaluate on identical splits (default: the run's eval.splits_file, "
        "if any; '' = none, draw seeded splits); a target it lacks gets seeded splits drawn",
    )
    p.add_argument(
        "--rerank",
        action=argparse.BooleanOptionalAction,
        help="k-reciprocal re-ranking of each split's distances with the run's eval.rerank_k1, "
        "eval.rerank_k2, eval.rerank_lambda (default: the run's eval.rerank, normally off); it "
        "helps on galleries with several images per identity",
    )
    p.add_argument("--out", help="folder for results.json / splits.json (default: none)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    add_flip_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging()
    import dataclasses

    from dgreid.deploy.model_file import load_model_file
    from dgreid.engine.device import resolve_device
    from dgreid.experiments.evaluate import embedder, evaluate_targets, targets_table

    path = Path(args.model)
    model_file = path / "model.pt" if path.is_dir() else path
    device = resolve_device(args.device)
    loaded = load_model_file(model_file, device=device)
    cfg = loaded.config
    if args.root:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=args.root))
    chosen = {k: v for k, v in (("flip", args.flip), ("rerank", args.rerank)) if v is not None}
    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, **chosen))
    embed, distance = embedder(loaded.method)
    out = Path(args.out) if args.out else None
    result = evaluate_targets(embed, distance, cfg, out, device, args.targets, args.splits)
    print(f"\n{targets_table(result, cfg)}")
    return 0
