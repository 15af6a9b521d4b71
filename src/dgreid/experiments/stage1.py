"""Stages 0 and 1 of the episodic methods: the shared start, then one frozen F_i per source.

Every network starts from one start, on real and synthetic data alike: *stage 0* trains F's own
network (the DualNorm network) on the union of the sources, from ImageNet weights where they
exist and from scratch otherwise. F starts from it whole, its InstanceNorms trained; each F_i
starts from its plain layers (``Backbone.plain_state``: every convolution and norm scale and
shift) and is fine-tuned on its own domain. Extractors of another family (the paper's ResNet-50
F_i beside a DualNorm MobileNetV2 F) start from their own ImageNet weights, or, without them,
from one stage-0 network of their own. One start keeps the extractors' features in related
coordinate systems, which L_consis through one shared E compares.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from torch import nn

from dgreid.config import Config
from dgreid.data.image_cache import ImageCache
from dgreid.data.sources import SourceSet
from dgreid.engine import ImageStream, RunLabels, Trainer
from dgreid.engine.distributed import barrier, is_main_process
from dgreid.experiments.stage_plan import (
    STAGE0,
    STAGE0_EXTRACTOR,
    stage1_key,
    stage1_seed,
    stage1_settings,
    stage_network,
)
from dgreid.experiments.trainer_args import image_stream
from dgreid.methods import method_from_config
from dgreid.methods.episodic import episodic_settings, require_episode_domains
from dgreid.methods.extractor import ExtractorMethod, extractor_feature
from dgreid.methods.registry import settings_type
from dgreid.models.backbone import pretrained_source
from dgreid.utils.io import atomic_torch_save
from dgreid.utils.seed import seed_everything
from dgreid.utils.torch_file import read_state_dict

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Stage1:
    """Stage 1's result: the frozen F_i (index = domain) and the weights of the stage-0 network,
    F's start."""

    extractors: list[nn.Module]
    start_state: dict


def train_extractors(
    cfg: Config, sources: SourceSet, out_dir: Path, resume: bool, cache: ImageCache | None = None
) -> Stage1:
    """Train (or reuse) one frozen extractor F_i per source domain, all from one start; the
    images are read from ``cache`` when there is one (the main run's, built once)."""
    # refuse before stage 1 spends time on any extractor
    require_episode_domains(cfg.method.name, list(cfg.data.sources), sources.num_domains)
    own = episodic_settings(cfg)
    stage1_dir = Path(own.stage1_dir) if own.stage1_dir else out_dir / "stage1"
    extractor_state = None
    stream = image_stream(cfg, sources.records, cache)
    stage0 = _train_one(cfg, sources, stream, STAGE0, stage1_dir, "random", None, -1)
    start_state = stage0.backbone.state_dict()
    if cfg.model.extractor == cfg.model.backbone and cfg.model.width_mult == 1.0:
        start, extractor_state = STAGE0, start_state  # F_i of F's own architecture
    elif stage0.backbone.plain_twin == cfg.model.extractor and cfg.model.width_mult == 1.0:
        start, extractor_state = STAGE0, stage0.backbone.plain_state()
    elif pretrained_source(cfg.model.extractor, cfg.model.pretrained) is not None:
        start = "pretrained"  # F_i of another family: from their own ImageNet / user weights
    else:  # ... or from one stage-0 network of their own family
        start = STAGE0_EXTRACTOR
        stage0 = _train_one(cfg, sources, stream, STAGE0_EXTRACTOR, stage1_dir, "random", None, -1)
        extractor_state = stage0.backbone.state_dict()
    extractors: list[nn.Module] = []
    for d, summary in enumerate(sources.domains):
        stream = image_stream(cfg, [r for r in sources.records if r.domain == d], cache)
        method = _train_one(
            cfg, sources, stream, summary.name, stage1_dir, start, extractor_state, d
        )
        extractors.append(extractor_feature(method, own.extractor_feature))
    return Stage1(extractors, start_state)


def _train_one(
    cfg: Config,
    sources: SourceSet,
    stream: ImageStream,
    name: str,
    stage1_dir: Path,
    start: str,
    start_state: dict | None,
    domain: int,
) -> ExtractorMethod:
    """Train (or reuse) the extractor of one domain (``domain >= 0``) or stage 0 (``-1``, all
    sources' ids, as many iterations as an average domain's extractor)."""
    key = stage1_key(cfg, name, len(stream), start)
    folder = stage1_dir / f"{name.replace(':', '_')}-{key}"  # custom:NAME -> custom_NAME
    weights = folder / "extractor.pt"
    ext_cfg = dataclasses.replace(
        cfg,
        method=dataclasses.replace(cfg.method, name="extractor", own=settings_type("extractor")()),
        model=dataclasses.replace(
            cfg.model,
            extractor=stage_network(cfg, name),
            width_mult=cfg.model.width_mult if name == STAGE0 else 1.0,  # F_i: full width
        ),
    )
    seed_everything(stage1_seed(cfg.train.seed, domain))  # initial weights: a function of the seed
    if domain >= 0:
        summary = sources.domains[domain]
        num_pids, offset, iters = summary.num_pids, summary.pid_offset, 0
    else:
        num_pids, offset = sources.num_classes, 0
        average = len(stream) // max(sources.num_domains, 1)
        iters = cfg.train.iters_per_epoch or max(average // cfg.data.batch_size, 1)
    method = method_from_config(ext_cfg, num_classes=num_pids, num_domains=1, pid_offset=offset)
    assert isinstance(method, ExtractorMethod)
    if start_state is not None:
        method.backbone.load_state_dict(start_state)
    if weights.is_file():
        method.load_state_dict(read_state_dict(weights))
        log.info("stage 1: reusing the %s extractor from %s", name, weights)
        return method
    trainer = Trainer(
        method,
        stream,
        folder,
        stage1_settings(cfg, iters, stage0=domain < 0),
        RunLabels(
            name=f"stage1 {name}",
            method="extractor",
            resume_hint=f"dgreid train ... --resume (stage 1, {name})",
        ),
    )
    trainer.train(resume=trainer.checkpoint.exists())
    if is_main_process():
        atomic_torch_save(weights, {k: v.cpu() for k, v in method.state_dict().items()})
    barrier()
    return method
