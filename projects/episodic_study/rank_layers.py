"""Rank each layer of a trained episodic network on its run's targets and splits.

The paper's test feature is E(F(x)) = bn2(fc2(relu(bn1(fc1(proj(F(x))))))). This ranks the
output of every step of that chain, from F's own feature to E's, with the run's distance on
the run's saved splits, to tell which layer costs what on the unseen targets:

    python projects/episodic_study/rank_layers.py RUN [KEY=VALUE ...]

RUN is a finished run folder of ``episodic`` (or ``episodic_plus``); the overrides are those
of ``dgreid train`` (``data.root=...``, ``eval.metric=euclidean``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch

import dgreid
from dgreid.config import load_config
from dgreid.experiments.evaluate import rank_targets

#: the steps of E(F(x)), in order
LAYERS = ("F(x)", "proj", "fc1", "relu(bn1)", "fc2", "E(F(x))")


def layer_output(method: torch.nn.Module, layer: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The embedding that stops after ``layer`` of the chain."""
    enc = method.encoder
    steps = [
        method.backbone,
        method.proj,
        enc.fc1,
        lambda h: torch.relu(enc.bn1(h)),
        enc.fc2,
        enc.bn2,
    ]
    stop = LAYERS.index(layer) + 1

    def embed(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = images
            for step in steps[:stop]:
                x = step(x)
            return x

    return embed


def main(argv: list[str]) -> None:
    run, *overrides = argv
    folder = Path(run)
    method = dgreid.load(folder, device="cpu").backend.method.eval()
    splits = f"eval.splits_file={folder / 'splits.json'}"
    cfg = load_config(folder / "config.yaml", [splits, *overrides])
    print(f"rank-1 % ({cfg.eval.metric}): {' | '.join(cfg.data.targets)} | average")
    for layer in LAYERS:
        result = rank_targets(
            layer_output(method, layer), None, cfg, torch.device("cpu"), progress=False
        )
        each = [
            f"{100 * t.mean['rank1']:.1f} ± {100 * t.std['rank1']:.1f}"
            for t in result.targets.values()
        ]
        print(f"{layer:10s} {' | '.join(each)} | {100 * result.average['rank1']:.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
