"""The one place the run config becomes the trainer's typed arguments.

A training option added to ``TrainConfig`` (:mod:`dgreid.config.schema`) reaches the trainer by
itself: :class:`~dgreid.engine.TrainSettings` is that section plus three keys of others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from dgreid.config import Config, config_to_dict
from dgreid.data.image_cache import ImageCache, build_image_cache, distinct_paths, over_budget
from dgreid.data.transforms import Augmentation
from dgreid.engine.settings import RunLabels, TrainSettings
from dgreid.engine.stream import ImageStream
from dgreid.errors import DatasetError
from dgreid.structures import ImageRecord

log = logging.getLogger(__name__)

#: Values of ``data.cache``.
CACHE_MODES = ("auto", "memory", "none")


def train_settings(cfg: Config) -> TrainSettings:
    """``cfg.train`` with the loop's keys of other sections (the batch, the memory layout)."""
    return TrainSettings.of(
        cfg.train, cfg.data.batch_size, cfg.model.channels_last, cfg.model.sync_bn
    )


def image_stream(
    cfg: Config, records: Sequence[ImageRecord], cache: ImageCache | None = None
) -> ImageStream:
    """``records`` decoded (or read from ``cache``) and batched as ``cfg.data`` says."""
    return ImageStream(
        records,
        num_instances=cfg.data.num_instances,
        height=cfg.data.height,
        width=cfg.data.width,
        workers=cfg.data.workers,
        cache=cache,
        augment=augmentation(cfg),
    )


def augmentation(cfg: Config) -> Augmentation:
    """The training augmentation ``cfg.data`` asks for."""
    return Augmentation(
        pad=cfg.data.pad,
        color_jitter=cfg.data.color_jitter,
        grayscale=cfg.data.grayscale,
        erasing=cfg.data.erasing,
        augmix=cfg.data.augmix,
    )


def image_cache(
    cfg: Config, records: Sequence[ImageRecord], progress: bool = True
) -> ImageCache | None:
    """The decoded-image cache of ``records`` that ``data.cache`` asks for, or ``None`` (decode
    on the fly): ``none``, or ``auto`` when the cache would exceed ``data.cache_budget_mb``."""
    mode, h, w = cfg.data.cache, cfg.data.height, cfg.data.width
    if mode not in CACHE_MODES:
        raise DatasetError(f"data.cache={mode!r}; expected one of {', '.join(CACHE_MODES)}")
    if mode == "none":
        return None
    too_big = over_budget(len(distinct_paths(records)), h, w, cfg.data.cache_budget_mb)
    if mode == "auto" and too_big:
        log.info("data.cache=auto: %s; decoding the images on the fly instead", too_big)
        return None
    # decoding releases the GIL: as many threads as the data workers or the training's threads
    threads = max(cfg.data.workers, torch.get_num_threads())
    return build_image_cache(
        records, h, w, cfg.data.cache_budget_mb, workers=threads if threads > 1 else 0,
        progress=progress,
    )  # fmt: skip


def run_labels(cfg: Config, resume_hint: str) -> RunLabels:
    """The main training run's labels: its method's name, and the config a resume must match."""
    return RunLabels(
        name=f"train {cfg.method.name}",
        method=cfg.method.name,
        config=config_to_dict(cfg),
        resume_hint=resume_hint,
    )


__all__ = [
    "CACHE_MODES",
    "augmentation",
    "image_cache",
    "image_stream",
    "run_labels",
    "train_settings",
]
