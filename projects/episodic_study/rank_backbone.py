"""Rank a trained network's own backbone feature on a config's targets.

The episodic methods test on E(F(x)); this ranks F(x) (or a stage-0 / stage-1 network) on the
same splits, with the config's distance, to tell what the E head costs:

    python projects/episodic_study/rank_backbone.py CONFIG BACKBONE FILE [KEY=VALUE ...]

FILE is a run's ``model.pt`` or a stage-0 / stage-1 ``extractor.pt``; BACKBONE is the network's
registered name (``mobilenetv2_dualnorm``, ``convnet_dualnorm``, ...). The overrides are those
of ``dgreid train`` (``data.root=...``, ``eval.splits_file=RUN/splits.json``).
"""

from __future__ import annotations

import sys

import torch

from dgreid.config import load_config
from dgreid.evaluation.protocol import format_table
from dgreid.experiments.evaluate import rank_targets
from dgreid.models import build_backbone
from dgreid.utils.torch_file import read_state_dict, safe_torch_load


def backbone_state(path: str) -> dict[str, torch.Tensor]:
    """The ``backbone.*`` tensors of a model file or of an extractor's state_dict."""
    if path.endswith("model.pt"):
        state = safe_torch_load(path, "model file")["state_dict"]
    else:
        state = read_state_dict(path)
    return {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}


def main(argv: list[str]) -> None:
    config, name, path, *overrides = argv
    cfg = load_config(config, overrides)
    net = build_backbone(name)
    net.load_state_dict(backbone_state(path))
    net.eval()

    def embed(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(images)

    print(format_table(rank_targets(embed, None, cfg, torch.device("cpu"))))


if __name__ == "__main__":
    main(sys.argv[1:])
