"""What stages 0 and 1 of the episodic methods train with, and when a trained network is
reused: the stage names, each network's seed, architecture and schedule, and the key that
names a trained network (``experiments/stage1.py`` orchestrates the training)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from dgreid.config import Config
from dgreid.data.synth import read_manifest
from dgreid.engine import TrainSettings
from dgreid.experiments.trainer_args import augmentation, train_settings
from dgreid.methods.episodic import episodic_settings

#: Bumped when what stage 1 trains changes (2: BNNeck id head; 3: seeded initialisation;
#: 4: shared start, stage-1 milestones scaled to its length; 5: stage 0 trains F's network, from
#: ImageNet weights where they exist), so older extractors are not reused.
STAGE1_FORMAT = 5
#: the stage-0 network (F's architecture, trained on the union of the sources) and, for
#: extractors of another family without ImageNet weights, their own stage-0 network
STAGE0 = "stage0"
STAGE0_EXTRACTOR = "stage0-extractor"


#: training keys a trained network does not depend on (the schedule enters as its own
#: milestones; logging, evaluation and placement change nothing that is learnt)
NOT_IN_KEY = ("epochs", "lr_steps", "log_every", "eval_every", "device", "threads", "tensorboard")


def stage1_seed(seed: int, domain: int) -> int:
    """The seed of domain ``domain``'s extractor initialisation (distinct per domain)."""
    return seed * 1000 + 1 + domain


def stage1_lr_steps(cfg: Config) -> list[int]:
    """Stage 1's LR milestones: ``method.stage1_lr_steps``, else ``train.lr_steps`` scaled from
    ``train.epochs`` to stage 1's length, so its rate decays at the same point of its run."""
    own = episodic_settings(cfg)
    if own.stage1_lr_steps:
        return list(own.stage1_lr_steps)
    return _scaled_steps(cfg, own.stage1_epochs or cfg.train.epochs)


def _scaled_steps(cfg: Config, length: int) -> list[int]:
    """``train.lr_steps`` scaled from ``train.epochs`` to a run of ``length`` epochs."""
    epochs = cfg.train.epochs
    if length == epochs or epochs <= 0:
        return list(cfg.train.lr_steps)
    return sorted({max(1, int(m * length / epochs)) for m in cfg.train.lr_steps})


def stage1_settings(cfg: Config, iters_per_epoch: int = 0, stage0: bool = False) -> TrainSettings:
    """The main run's settings with stage 1's epochs and milestones (the stage-0 network's
    with ``stage0`` when ``method.stage0_epochs`` sets its own length), and no evaluation."""
    own = episodic_settings(cfg)
    epochs, steps = own.stage1_epochs or cfg.train.epochs, stage1_lr_steps(cfg)
    if stage0 and own.stage0_epochs:
        epochs = own.stage0_epochs
        steps = _scaled_steps(cfg, epochs)
    return dataclasses.replace(
        train_settings(cfg),
        epochs=epochs,
        lr_steps=steps,
        iters_per_epoch=iters_per_epoch or cfg.train.iters_per_epoch,
        eval_every=0,
    )


def stage_network(cfg: Config, name: str) -> str:
    """The architecture trained under ``name``: F's (``model.backbone``) for stage 0, the
    extractors' (``model.extractor``) for every F_i and their own stage-0 network."""
    return cfg.model.backbone if name == STAGE0 else cfg.model.extractor


def stage1_key(cfg: Config, domain: str, num_images: int, start: str) -> str:
    """What a stage-1 extractor depends on; a trained one is reused only when this matches.

    The schedule enters as the milestones the network trains with (and, for a network started
    from stage 0 or stage 0 itself, the stage-0 network's), not as ``train.epochs`` and
    ``train.lr_steps``: a longer final run with a stage-1 schedule of its own
    (``method.stage1_lr_steps``) reuses its extractors, and a change that moves stage 0's
    scaled milestone retrains it. The augmentation enters by the settings that differ from
    the defaults, so the keys from before those settings existed stay the same.
    """
    schedule = stage1_settings(cfg)
    parts = {
        "format": STAGE1_FORMAT,
        "domain": domain,
        "start": start,
        "root": str(Path(cfg.data.root).resolve()),
        "num_images": num_images,
        "extractor": cfg.model.extractor,
        "network": stage_network(cfg, domain),
        "f_network": cfg.model.backbone,
        "width_mult": cfg.model.width_mult,
        "pretrained": cfg.model.pretrained,
        "id_loss": True,  # the extractors' loss: once a choice, kept so trained ones are reused
        "tri": 1.0,
        "margin": cfg.method.margin,
        "epochs": schedule.epochs,
        "lr_steps": list(schedule.lr_steps),
        "train": {k: v for k, v in dataclasses.asdict(cfg.train).items() if k not in NOT_IN_KEY},
        "data": {k: getattr(cfg.data, k) for k in ("height", "width", "batch_size")},
        "num_instances": cfg.data.num_instances,
        "holdout": cfg.data.source_holdout,
    }
    augment = augmentation(cfg).changed()
    if augment:
        parts["augment"] = augment
    if episodic_settings(cfg).stage0_epochs and {domain, start} & {STAGE0, STAGE0_EXTRACTOR}:
        stage0 = stage1_settings(cfg, stage0=True)
        parts["stage0_epochs"] = stage0.epochs
        parts["stage0_lr_steps"] = list(stage0.lr_steps)
    synth = read_manifest(cfg.data.root)
    if synth is not None:  # a synthetic root rendered again (version, shifts, seed...) retrains
        parts["synth"] = {k: synth.get(k) for k in ("version", "shifts", "seed", "scale", "size")}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
