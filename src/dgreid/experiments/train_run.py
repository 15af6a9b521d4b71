"""One training run end to end: data, stage 1 (episodic), training, model file, DG evaluation.

This is what ``dgreid train CONFIG`` runs; the library pieces it calls take explicit arguments,
and this module is where the config is read.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from dgreid.config import Config
from dgreid.data.check import require_readable
from dgreid.data.datasets import build_dataset
from dgreid.data.image_cache import ImageCache
from dgreid.data.sources import SourceSet, merge_sources, summary_table
from dgreid.deploy.model_file import make_meta, save_model_file
from dgreid.engine import Trainer, TrainingInterrupted
from dgreid.engine.device import resolve_train_device
from dgreid.engine.distributed import barrier, init_distributed, is_main_process
from dgreid.engine.environment import numeric_environment, record_environment
from dgreid.engine.metrics_log import read_metrics, require_tensorboard
from dgreid.engine.threads import set_training_threads
from dgreid.errors import DgreidError
from dgreid.evaluation.protocol import ProtocolResult, format_table
from dgreid.experiments.evaluate import (
    PeriodicEvaluation,
    check_targets,
    evaluate_method,
    evaluation_title,
)
from dgreid.experiments.rundir import prepare_run_dir, saved_weights
from dgreid.experiments.stage1 import train_extractors
from dgreid.experiments.synthdata import ensure_synthetic_data
from dgreid.experiments.trainer_args import image_cache, image_stream, run_labels, train_settings
from dgreid.methods import METHODS, method_from_config
from dgreid.methods.base import Method
from dgreid.methods.episodic import EpisodicMethod, episodic_settings
from dgreid.models import build_backbone
from dgreid.report.html import write_run_report
from dgreid.report.plots import plot_training_curves
from dgreid.utils.seed import seed_everything

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
REPORT_FILE = "report.html"
CURVES_FILE = "curves.png"


@dataclass
class RunResult:
    """What a finished run produced."""

    out_dir: Path
    model_path: Path
    result: ProtocolResult | None
    source_result: ProtocolResult | None


def load_sources(cfg: Config, check_images: bool = True) -> SourceSet:
    """Build and merge the source datasets, log their summary, refuse unreadable images."""
    if is_main_process():  # one renderer under torchrun; the other ranks wait for it
        ensure_synthetic_data(cfg)
    barrier()
    datasets = [build_dataset(name, cfg.data.root) for name in cfg.data.sources]
    sources = merge_sources(
        datasets, cfg.data.source_holdout, cfg.eval.split_seed, cfg.data.source_images
    )
    log.info("sources:\n%s", summary_table(sources))
    if check_images:
        require_readable(sources.records, workers=cfg.data.workers, progress=False)
    return sources


def prepare_images(cfg: Config, sources: SourceSet) -> ImageCache | None:
    """Decode every source image once: into the cache ``data.cache`` asks for (which refuses
    unreadable images as :func:`require_readable` does), or only to check it when there is none."""
    cache = image_cache(cfg, sources.records, progress=is_main_process())
    if cache is None:
        require_readable(sources.records, workers=cfg.data.workers, progress=False)
    return cache


# ---------------------------------------------------------------- the run


def method_for_run(
    cfg: Config, sources: SourceSet, extractors: list[nn.Module] | None, total_steps: int
) -> Method:
    """The run's method from ``cfg``, sized to ``sources`` (classes, domains), with the stage-1
    ``extractors`` when it has them and the run's ``total_steps``."""
    return method_from_config(
        cfg,
        num_classes=sources.num_classes,
        num_domains=sources.num_domains,
        extractors=extractors,
        total_steps=total_steps,
    )


def start_f_shared(cfg: Config, method: Method, start_state: dict | None) -> None:
    """``method.f_start=shared``: F starts from the stage-0 network (F's own architecture,
    trained on the union of the sources), as in the paper every network shares one start."""
    f_start = episodic_settings(cfg).f_start
    if f_start != "shared" or start_state is None:
        log.info("method.f_start=%s: F keeps its own initial weights", f_start)
        return
    assert isinstance(method, EpisodicMethod)  # only the episodic methods have a stage 1
    method.backbone.load_start(start_state, "the stage-0 network")
    log.info("method.f_start=shared: F starts from the stage-0 network")


def check_initial_weights(cfg: Config) -> None:
    """Load ``model.pretrained`` into every network the run starts from (the backbone, and
    the extractor of a method with stage 1): a missing, foreign or unsafe file, or one for
    another architecture, is a CheckpointError naming it, raised before any file is written."""
    if cfg.model.pretrained == "none":
        return
    build_backbone(cfg.model.backbone, cfg.model.pretrained, width_mult=cfg.model.width_mult)
    if METHODS.get(cfg.method.name).needs_domain_extractors:
        build_backbone(cfg.model.extractor, cfg.model.pretrained)


def run_training(
    cfg: Config,
    *,
    resume: bool = False,
    overwrite: bool = False,
    evaluate: bool = True,
    resume_hint: str = "",
    rerun_hint: str = "",
) -> RunResult:
    """Train ``cfg`` into ``cfg.output_dir``, save ``model.pt``, evaluate on the targets.

    ``train.log`` in the run folder records the run, and how it ended: the results, or the
    error, or the interruption with the command that continues it (``resume_hint``, or
    ``rerun_hint`` when no checkpoint was written yet). Ctrl-C outside the training loop (which
    stops by itself after a step) raises KeyboardInterrupt with that command as its message.
    """
    out = Path(cfg.output_dir)
    init_distributed(resolve_train_device(cfg.train.device))  # under torchrun: know the rank first
    if cfg.train.tensorboard and is_main_process():
        require_tensorboard()  # a missing package fails before anything is written
    if not resume:
        check_initial_weights(cfg)  # a bad weight file fails before anything is written
    if is_main_process():
        prepare_run_dir(cfg, resume=resume, overwrite=overwrite)
    barrier()
    resume_hint = resume_hint or f"dgreid train {out / 'config.yaml'} --resume"
    with _log_file(out / "train.log") as note:
        try:
            return _train_and_evaluate(cfg, out, resume, evaluate, resume_hint)
        except KeyboardInterrupt:
            why = _interrupted(
                out, resume_hint, rerun_hint or f"dgreid train {out / 'config.yaml'}"
            )
            note(logging.WARNING, why)
            raise KeyboardInterrupt(why) from None
        except TrainingInterrupted as e:  # a signal in the loop: it saved and says how to resume
            note(logging.WARNING, str(e))
            raise
        except DgreidError as e:
            note(logging.ERROR, f"{type(e).__name__}: {e}")
            raise
        except Exception as e:
            note(logging.ERROR, f"{type(e).__name__}: {e}", exc_info=True)
            raise


def _interrupted(out: Path, resume_hint: str, rerun_hint: str) -> str:
    """What Ctrl-C outside the training loop leaves, and the command that goes on from there."""
    model = out / MODEL_FILE
    if model.is_file():
        return (
            f"interrupted after the model was saved to {model}; evaluate it with: dgreid eval {out}"
        )
    held = saved_weights(out)
    if held is not None:
        return f"interrupted; the last checkpoint is {held}; resume with: {resume_hint}"
    return f"interrupted before the first checkpoint; start again with: {rerun_hint}"


def _train_and_evaluate(
    cfg: Config, out: Path, resume: bool, evaluate: bool, resume_hint: str
) -> RunResult:
    threads, why = set_training_threads(cfg.train.threads, cfg.data.workers)
    log.info("torch CPU threads: %d (%s)", threads, why)
    device = resolve_train_device(cfg.train.device)
    if is_main_process():
        record_environment(out, numeric_environment(device, threads), resume)
    if evaluate:
        check_targets(cfg)
    sources = load_sources(cfg, check_images=False)
    cache = prepare_images(cfg, sources)
    stage1 = None
    if METHODS.get(cfg.method.name).needs_domain_extractors:
        stage1 = train_extractors(cfg, sources, out, resume, cache)
    settings = train_settings(cfg)
    seed_everything(cfg.train.seed)  # initial weights depend on the seed alone, not on history
    method = method_for_run(
        cfg,
        sources,
        stage1.extractors if stage1 is not None else None,
        settings.total_iterations(len(sources.records)),
    )
    if stage1 is not None:
        start_f_shared(cfg, method, stage1.start_state)
    periodic = PeriodicEvaluation(cfg, device) if settings.eval_every > 0 else None
    trainer = Trainer(
        method,
        image_stream(cfg, sources.records, cache),
        out,
        settings,
        run_labels(cfg, resume_hint),
        eval_fn=periodic,
    )
    summary = trainer.train(resume=resume)
    model_path = out / MODEL_FILE
    result = source_result = None
    if is_main_process():
        meta = make_meta(cfg, method, sources.num_classes, sources.num_domains)
        save_model_file(model_path, method, cfg, meta)
        log.info("model saved to %s", model_path)
        if evaluate:
            done = periodic.result_at(summary.steps) if periodic is not None else None
            result, source_result = evaluate_method(method, cfg, out, sources, device, done)
        report = write_training_report(cfg, out, result, source_result)
        log.info("report written to %s", report)
    barrier()
    return RunResult(out, model_path, result, source_result)


def write_training_report(
    cfg: Config, out: Path, result: ProtocolResult | None, source_result: ProtocolResult | None
) -> Path:
    """``RUN/report.html``: the run's results and its training curves (``RUN/curves.png``, from
    ``metrics.jsonl``; neither picture nor link when nothing was logged)."""
    log_path = out / "metrics.jsonl"
    records = read_metrics(log_path) if log_path.is_file() else []
    curves = plot_training_curves(out / CURVES_FILE, records, f"{out.name} ({cfg.method.name})")
    if curves is None:
        (out / CURVES_FILE).unlink(missing_ok=True)  # a picture of an earlier start, if any
    steps = [int(r["step"]) for r in records if "step" in r]
    facts = {
        "method": cfg.method.name,
        "sources": ", ".join(cfg.data.sources),
        "seed": str(cfg.train.seed),
        "iterations": str(max(steps, default=0)),
    }
    tables = {}
    if result is not None:
        tables[evaluation_title(cfg, list(result.targets))] = format_table(result)
    if source_result is not None:
        tables["Seen source domains, held-out ids"] = format_table(source_result)
    return write_run_report(
        out / REPORT_FILE, title=f"dgreid run {out.name}", facts=facts, tables=tables, curves=curves
    )


#: ``note(level, message, exc_info=False)``: a line for ``train.log`` alone.
Note = Callable[..., None]


@contextlib.contextmanager
def _log_file(path: Path) -> Iterator[Note]:
    """Mirror the toolkit's log into the run folder for the run's duration (rank 0 only);
    yields a function that writes a line to that file alone (the console hears of an error
    from the command line's own message, once)."""
    if not is_main_process():
        yield lambda level, msg, exc_info=False: None
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("dgreid")
    root.addHandler(handler)

    def note(level: int, msg: str, exc_info: bool = False) -> None:
        info = sys.exc_info() if exc_info else None
        handler.handle(log.makeRecord(log.name, level, __file__, 0, msg, (), info))

    try:
        yield note
    finally:
        root.removeHandler(handler)
        handler.close()


__all__ = ["RunResult", "load_sources", "run_training", "train_extractors"]
