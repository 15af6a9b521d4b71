"""Shared fixtures for the deploy tests: a tiny trained-looking run folder and image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dgreid.config.loader import dump_config, load_config
from dgreid.config.schema import Config
from dgreid.deploy.model_file import make_meta, save_model_file
from dgreid.methods import method_from_config
from dgreid.methods.base import Method

H, W = 32, 16


def tiny_config(overrides: list[str] | None = None) -> Config:
    return load_config(
        None,
        [
            "method.name=baseline",
            "model.backbone=convnet_small",
            "model.pretrained=none",
            "model.width_mult=0.25",
            f"data.height={H}",
            f"data.width={W}",
            "data.sources=[synth-market, synth-duke]",
            *(overrides or []),
        ],
    )


def tiny_method(cfg: Config, seed: int = 0) -> Method:
    torch.manual_seed(seed)
    method = method_from_config(cfg, num_classes=5, num_domains=2)
    # Non-trivial BatchNorm statistics so that eval mode differs from a fresh network.
    for m in method.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return method.eval()


def make_run(folder: Path, seed: int = 0, overrides: list[str] | None = None) -> Path:
    """A run folder holding ``model.pt`` and ``config.yaml`` of a tiny baseline."""
    cfg = tiny_config(overrides)
    method = tiny_method(cfg, seed)
    folder.mkdir(parents=True, exist_ok=True)
    save_model_file(folder / "model.pt", method, cfg, make_meta(cfg, method, 5, 2))
    (folder / "config.yaml").write_text(dump_config(cfg))
    return folder


def write_images(
    folder: Path, n: int, seed: int = 0, size: tuple[int, int] = (24, 48)
) -> list[Path]:
    """``n`` random RGB crops (w, h = ``size``) in ``folder`` and a sub-folder."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        p = sub / f"img_{i:03d}.png"
        Image.fromarray(arr).save(p)
        paths.append(p)
    return paths
