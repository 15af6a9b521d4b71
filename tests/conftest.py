"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgreid.config import Config, load_config
from dgreid.data.transforms import Augmentation
from dgreid.structures import ImageRecord


def _write_tiny_image(path: Path, shade: int = 128) -> Path:
    """Write an 8x4 (h x w) RGB image in the format its extension names; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 8), (shade, 255 - shade, 60)).save(path)
    return path


def write_crops(root: Path, pids: int = 4, per_pid: int = 4) -> list[ImageRecord]:
    """Noisy crops of assorted sizes (JPEG and PNG), ``per_pid`` per identity, 2 cameras."""
    rng = np.random.default_rng(0)
    records = []
    for pid in range(pids):
        for i in range(per_pid):
            h, w = int(rng.integers(20, 48)), int(rng.integers(9, 24))
            pixels = rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8)
            path = root / f"{pid:04d}_c{i % 2 + 1}_{i}.{'jpg' if i % 2 else 'png'}"
            Image.fromarray(pixels).save(path)
            records.append(ImageRecord(str(path), pid, i % 2, 0))
    return records


#: Each training augmentation option on alone, and all of them at once (``data.*`` overrides).
AUGMENT_OPTIONS = {
    "pad": ["data.pad=3"],
    "color_jitter": ["data.color_jitter=0.4"],
    "grayscale": ["data.grayscale=0.5"],
    "erasing": ["data.erasing=0.5"],
    "augmix": ["data.augmix=true"],
}
AUGMENT_OPTIONS["all"] = [o for opts in AUGMENT_OPTIONS.values() for o in opts]


def augmentation_of(overrides: list[str]) -> Augmentation:
    """The :class:`Augmentation` that the ``data.*`` ``overrides`` ask for."""
    from dgreid.experiments.trainer_args import augmentation

    return augmentation(load_config(None, overrides))


@pytest.fixture
def tiny_image() -> Callable[..., Path]:
    """``tiny_image(path, shade=128)`` writes an 8x4 image (jpg/png/bmp by extension)."""
    return _write_tiny_image


# ------------------------------------------------------------ end-to-end runs (tests/test_e2e_*)

#: Every synthetic domain, the targets shrunk to a handful of ids (sources shrink with the scale).
TINY_SCALE = 0.05
TINY_SIZE = (32, 16)
#: Overrides that make any synthetic config a seconds-long run on the tiny benchmark.
TINY_OVERRIDES = [
    "data.height=32",
    "data.width=16",
    "data.batch_size=16",
    "data.num_instances=4",
    "train.max_iters=2",
    "train.epochs=1",
    "train.iters_per_epoch=2",
    "train.lr_steps=[1]",
    "train.log_every=1",
    "train.device=cpu",
    "method.stage1_epochs=1",
    "method.stage0_epochs=1",
    "eval.num_splits=2",
    "eval.num_test_ids=4",
]


def tiny_domains() -> list:
    """The eight synthetic domain specs, the four targets cut to 5-6 identities."""
    from dataclasses import replace

    from dgreid.data.synth import get_domain

    return [
        get_domain("synth-market"),
        get_domain("synth-duke"),
        get_domain("synth-cuhk02"),
        get_domain("synth-cuhk03"),
        replace(get_domain("synth-grid"), n_ids=6, distractors=4),
        replace(get_domain("synth-ilids"), n_ids=5, n_images=17),
        replace(get_domain("synth-prid"), n_ids=6, n_ids_b=6, shared=6),
        replace(get_domain("synth-viper"), n_ids=6),
    ]


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONE tiny rendered synthetic benchmark (32x16 crops) shared by every e2e test; read-only."""
    from dgreid.data.synth import render_benchmark

    root = tmp_path_factory.mktemp("tiny-synth")
    render_benchmark(
        root, seed=0, scale=TINY_SCALE, size=TINY_SIZE, domains=tiny_domains(), progress=False
    )
    return root


#: The repository's configs/ folder (tests run from any working directory).
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def tiny_config(config: str | Path, root: Path, out_dir: Path, *overrides: str) -> Config:
    """``config`` (a path, or a name under configs/synthetic/) made tiny: the e2e benchmark
    under ``root``, two iterations, output in ``out_dir``; ``overrides`` come last."""
    path = Path(config)
    if not path.suffix:
        path = CONFIGS / "synthetic" / f"{config}.yaml"
    return load_config(
        path, [*TINY_OVERRIDES, f"data.root={root}", f"output_dir={out_dir}", *overrides]
    )


@pytest.fixture(scope="session")
def episodic_run(tiny_benchmark: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of configs/synthetic/episodic.yaml trained (2 iterations, stage 1 included)
    on the tiny benchmark; shared by the e2e tests, which must not write into it."""
    from dgreid.experiments.train_run import run_training

    out = tmp_path_factory.mktemp("episodic-run") / "run"
    run_training(tiny_config("episodic", tiny_benchmark, out))
    return out
