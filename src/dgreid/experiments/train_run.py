"""One training run end to end: data, stage 1 (episodic), training, model file, DG evaluation.

This is what ``dgreid train CONFIG`` runs; the library pieces it calls take explicit arguments,
and this module is where the config is read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dgreid.config import Config
from dgreid.data.check import require_readable
from dgreid.data.datasets import build_dataset
from dgreid.data.sources import SourceSet, merge_sources, summary_table
from dgreid.deploy.model_file import make_meta, save_model_file
from dgreid.engine import Trainer
from dgreid.engine.distributed import barrier, init_distributed, is_main_process
from dgreid.engine.threads import set_training_threads
from dgreid.engine.trainer import resolve_device
from dgreid.errors import TrainingError
from dgreid.evaluation.protocol import ProtocolResult
from dgreid.experiments.evaluate import evaluate_method
from dgreid.experiments.rundir import prepare_run_dir
from dgreid.experiments.synthdata import ensure_synthetic_data
from dgreid.methods import method_from_config
from dgreid.methods.base import Method
from dgreid.utils.io import atomic_torch_save
from dgreid.utils.seed import seed_everything

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
#: Bumped when what stage 1 trains changes (2: BNNeck id head; 3: seeded initialisation), so
#: extractors trained by older code are not reused.
STAGE1_FORMAT = 3


@dataclass
class RunResult:
    """What a finished run produced."""

    out_dir: Path
    model_path: Path
    result: ProtocolResult | None
    source_result: ProtocolResult | None


def trainer_kwargs(cfg: Config) -> dict[str, Any]:
    """The Trainer arguments that come straight from ``cfg.train`` / ``cfg.data``."""
    t, d = cfg.train, cfg.data
    return dict(
        epochs=t.epochs,
        iters_per_epoch=t.iters_per_epoch,
        batch_size=d.batch_size,
        num_instances=d.num_instances,
        lr=t.lr,
        momentum=t.momentum,
        weight_decay=t.weight_decay,
        lr_steps=t.lr_steps,
        gamma=t.gamma,
        warmup_iters=t.warmup_iters,
        backbone_lr_mult=t.backbone_lr_mult,
        seed=t.seed,
        device=t.device,
        amp=t.amp,
        channels_last=cfg.model.channels_last,
        sync_bn=cfg.model.sync_bn,
        workers=d.workers,
        height=d.height,
        width=d.width,
        log_every=t.log_every,
        max_iters=t.max_iters,
    )


def load_sources(cfg: Config, check_images: bool = True) -> SourceSet:
    """Build and merge the source datasets, log their summary, refuse unreadable images."""
    if is_main_process():  # one renderer under torchrun; the other ranks wait for it
        ensure_synthetic_data(cfg.data.root, [*cfg.data.sources, *cfg.data.targets])
    barrier()
    datasets = [build_dataset(name, cfg.data.root) for name in cfg.data.sources]
    sources = merge_sources(datasets, holdout=cfg.data.source_holdout, seed=cfg.eval.split_seed)
    log.info("sources:\n%s", summary_table(sources))
    if check_images:
        require_readable(sources.records, workers=cfg.data.workers, progress=False)
    return sources


# ---------------------------------------------------------------- stage 1 (episodic)


def stage1_seed(seed: int, domain: int) -> int:
    """The seed of domain ``domain``'s extractor initialisation (distinct per domain)."""
    return seed * 1000 + 1 + domain


def stage1_key(cfg: Config, domain: str, num_images: int) -> str:
    """What a stage-1 extractor depends on; a trained one is reused only when this matches."""
    parts = {
        "format": STAGE1_FORMAT,
        "domain": domain,
        "root": str(Path(cfg.data.root).resolve()),
        "num_images": num_images,
        "extractor": cfg.model.extractor,
        "pretrained": cfg.model.pretrained,
        "id_loss": cfg.method.extractor_id_loss,
        "margin": cfg.method.margin,
        "epochs": cfg.method.stage1_epochs or cfg.train.epochs,
        **({"lr_steps": cfg.method.stage1_lr_steps} if cfg.method.stage1_lr_steps else {}),
        "train": {
            k: v
            for k, v in dataclasses.asdict(cfg.train).items()
            if k not in ("epochs", "log_every", "eval_every", "device", "threads")
        },
        "data": {k: getattr(cfg.data, k) for k in ("height", "width", "batch_size")},
        "num_instances": cfg.data.num_instances,
        "holdout": cfg.data.source_holdout,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def stage1_lr_steps(cfg: Config) -> list[int]:
    """Stage 1's LR milestones: ``method.stage1_lr_steps``, else ``train.lr_steps``."""
    return list(cfg.method.stage1_lr_steps or cfg.train.lr_steps)


def train_extractors(
    cfg: Config, sources: SourceSet, out_dir: Path, resume: bool
) -> list[nn.Module]:
    """Train (or reuse) one frozen extractor F_i per source domain."""
    if sources.num_domains < 3:  # refuse before stage 1 spends time on any extractor
        raise TrainingError(
            "episodic training needs at least 3 source domains (i, j, k distinct); "
            f"data.sources gives {sources.num_domains}: {', '.join(cfg.data.sources)}"
        )
    stage1_dir = Path(cfg.method.stage1_dir) if cfg.method.stage1_dir else out_dir / "stage1"
    extractors: list[nn.Module] = []
    ext_cfg = dataclasses.replace(cfg, method=dataclasses.replace(cfg.method, name="extractor"))
    for d, summary in enumerate(sources.domains):
        records = [r for r in sources.records if r.domain == d]
        key = stage1_key(cfg, summary.name, len(records))
        folder = stage1_dir / f"{summary.name.replace(':', '_')}-{key}"  # custom:NAME
        weights = folder / "extractor.pt"
        seed_everything(stage1_seed(cfg.train.seed, d))  # initial weights: a function of the seed
        method = method_from_config(
            ext_cfg, num_classes=summary.num_pids, num_domains=1, pid_offset=summary.pid_offset
        )
        if weights.is_file():
            state = torch.load(weights, map_location="cpu", weights_only=True)
            method.load_state_dict(state)
            log.info("stage 1: reusing the %s extractor from %s", summary.name, weights)
        else:
            epochs = cfg.method.stage1_epochs or cfg.train.epochs
            trainer = Trainer(
                method,
                records,
                folder,
                **{**trainer_kwargs(cfg), "epochs": epochs, "lr_steps": stage1_lr_steps(cfg)},
                name=f"stage1 {summary.name}",
                method_name="extractor",
                resume_hint=f"dgreid train ... --resume (stage 1, {summary.name})",
            )
            trainer.train(resume=(folder / "checkpoints" / "last.pt").is_file())
            if is_main_process():
                atomic_torch_save(weights, {k: v.cpu() for k, v in method.state_dict().items()})
            barrier()
        extractors.append(method.backbone)  # type: ignore[attr-defined,arg-type]
    return extractors


# ---------------------------------------------------------------- the run


def build_method(
    cfg: Config, sources: SourceSet, extractors: list[nn.Module] | None, total_steps: int
) -> Method:
    return method_from_config(
        cfg,
        num_classes=sources.num_classes,
        num_domains=sources.num_domains,
        extractors=extractors,
        total_steps=total_steps,
    )


def run_training(
    cfg: Config,
    *,
    resume: bool = False,
    overwrite: bool = False,
    evaluate: bool = True,
    resume_hint: str = "",
) -> RunResult:
    """Train ``cfg`` into ``cfg.output_dir``, save ``model.pt``, evaluate on the targets."""
    out = Path(cfg.output_dir)
    init_distributed(resolve_device(cfg.train.device))  # under torchrun: know the rank first
    if is_main_process():
        prepare_run_dir(cfg, resume=resume, overwrite=overwrite)
    barrier()
    with _log_file(out / "train.log"):
        return _train_and_evaluate(cfg, out, resume, evaluate, resume_hint)


def _train_and_evaluate(
    cfg: Config, out: Path, resume: bool, evaluate: bool, resume_hint: str
) -> RunResult:
    threads, why = set_training_threads(cfg.train.threads, cfg.data.workers)
    log.info("torch CPU threads: %d (%s)", threads, why)
    sources = load_sources(cfg)
    extractors = None
    if cfg.method.name == "episodic":
        extractors = train_extractors(cfg, sources, out, resume)
    iters = cfg.train.iters_per_epoch or max(len(sources.records) // cfg.data.batch_size, 1)
    total = cfg.train.epochs * iters
    if cfg.train.max_iters > 0:
        total = min(total, cfg.train.max_iters)
    seed_everything(cfg.train.seed)  # initial weights depend on the seed alone, not on history
    method = build_method(cfg, sources, extractors, total)
    trainer = Trainer(
        method,
        sources.records,
        out,
        **trainer_kwargs(cfg),
        name=f"train {cfg.method.name}",
        method_name=cfg.method.name,
        config=dataclasses.asdict(cfg),
        resume_hint=resume_hint or f"dgreid train {out / 'config.yaml'} --resume",
    )
    trainer.train(resume=resume)
    model_path = out / MODEL_FILE
    result = source_result = None
    if is_main_process():
        meta = make_meta(cfg, method, sources.num_classes, sources.num_domains)
        save_model_file(model_path, method, cfg, meta)
        log.info("model saved to %s", model_path)
        if evaluate:
            device = resolve_device(cfg.train.device)
            result, source_result = evaluate_method(method, cfg, out, sources, device)
    barrier()
    return RunResult(out, model_path, result, source_result)


@contextlib.contextmanager
def _log_file(path: Path) -> Iterator[None]:
    """Mirror the toolkit's log into the run folder for the run's duration (rank 0 only)."""
    if not is_main_process():
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("dgreid")
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


__all__ = ["RunResult", "load_sources", "run_training", "train_extractors"]
