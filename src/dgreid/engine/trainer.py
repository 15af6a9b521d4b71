"""The trainer core: owns the loop; the method owns one training step.

``Trainer.train`` reads top to bottom: set up (device, process group, data, optimizer, resume),
then for every iteration: set the LR, run ``method.train_step`` under autocast, check the loss is
finite, back-propagate, step, log; at every epoch end write ``checkpoints/last.pt`` atomically and
evaluate when asked. SIGINT/SIGTERM finish the step, save and raise :class:`TrainingInterrupted`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dgreid.data.image_dataset import ImageDataset
from dgreid.data.samplers import build_sampler
from dgreid.data.transforms import build_transform
from dgreid.engine import distributed as D
from dgreid.engine.checkpoint import (
    config_diff,
    load_checkpoint,
    load_state_dict_checked,
    resume_diff,
    save_checkpoint,
)
from dgreid.engine.loader import SeededBatches, build_train_loader, iterate
from dgreid.engine.lr import lr_at
from dgreid.engine.metrics import MetricsWriter
from dgreid.engine.signals import StopRequest, TrainingInterrupted
from dgreid.engine.state import capture_rng, epoch_seed, restore_rng
from dgreid.errors import TrainingError
from dgreid.methods.base import Method
from dgreid.structures import Batch, ImageRecord
from dgreid.utils.io import WriteError
from dgreid.utils.progress import progress_bar
from dgreid.utils.seed import seed_everything

log = logging.getLogger(__name__)

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
EvalFn = Callable[[Method, int], dict]


@dataclass
class TrainSummary:
    """What a finished ``train()`` call did."""

    steps: int
    epochs_done: int
    checkpoint: Path
    losses: dict[str, float] = field(default_factory=dict)  # mean of the last log window
    eval: dict = field(default_factory=dict)  # the last evaluation's result
    images_per_s: float = 0.0
    resumed_from_step: int | None = None
    stopped_early: bool = False


def resolve_device(device: str) -> torch.device:
    """``auto`` -> the local CUDA device when there is one (per ``LOCAL_RANK``), else CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        local = D._env_int("LOCAL_RANK", 0)
        return torch.device(f"cuda:{local}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"train.device={device!r} but no CUDA device is available")
    try:
        return torch.device(device)
    except RuntimeError as e:  # torch's own message lists twenty device types
        raise TrainingError(f"train.device={device!r}: expected auto, cpu, cuda or cuda:N") from e


class Trainer:
    """Trains ``method`` on ``records``; all output goes under ``out_dir``.

    ``batch_size`` is the global batch (P*K images per iteration over all processes);
    ``iters_per_epoch=0`` means ``len(records) // batch_size``; ``lr_steps`` are epochs;
    ``max_iters > 0`` stops after that many iterations in all. ``eval_fn(method, step)`` runs on
    rank 0 every ``eval_every`` epochs (0: at the end only). ``resume_hint`` is the command the
    interruption message tells the user to run.
    """

    def __init__(
        self,
        method: Method,
        records: Sequence[ImageRecord],
        out_dir: str | Path,
        *,
        epochs: int = 10,
        iters_per_epoch: int = 0,
        batch_size: int = 32,
        num_instances: int = 4,
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        lr_steps: Sequence[int] = (),
        gamma: float = 0.1,
        warmup_iters: int = 0,
        backbone_lr_mult: float = 1.0,
        seed: int = 0,
        device: str = "auto",
        amp: str = "none",
        channels_last: bool = False,
        sync_bn: bool = False,
        workers: int = 0,
        height: int = 64,
        width: int = 32,
        log_every: int = 10,
        max_iters: int = 0,
        eval_fn: EvalFn | None = None,
        eval_every: int = 0,
        name: str = "train",
        method_name: str | None = None,
        config: dict[str, Any] | None = None,
        resume_hint: str = "the same command with --resume",
        progress: bool = True,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
    ) -> None:
        if amp not in AMP_DTYPES:
            raise TrainingError(f"train.amp={amp!r}; expected one of {', '.join(AMP_DTYPES)}")
        if not records:
            raise TrainingError(f"{name}: no training images")
        self.method, self.records, self.out_dir = method, list(records), Path(out_dir)
        self.epochs, self.batch_size, self.num_instances = epochs, batch_size, num_instances
        self.iters_per_epoch = iters_per_epoch or max(len(self.records) // batch_size, 1)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.lr_steps, self.gamma, self.warmup_iters = list(lr_steps), gamma, warmup_iters
        self.backbone_lr_mult = backbone_lr_mult
        self.seed, self.device_name, self.amp = seed, device, amp
        self.channels_last, self.sync_bn, self.workers = channels_last, sync_bn, workers
        self.height, self.width = height, width
        self.log_every, self.max_iters = max(log_every, 1), max_iters
        self.eval_fn, self.eval_every, self.name = eval_fn, eval_every, name
        self.method_name = method_name or getattr(method, "name", type(method).__name__)
        self.config = dict(config or {})
        self.resume_hint, self.progress, self.on_step = resume_hint, progress, on_step
        self._device = torch.device("cpu")  # set by train()

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / "checkpoints" / "last.pt"

    def _sampler_meta(self) -> dict[str, Any]:
        """What must not change between a run and its resume (else the stream differs)."""
        return {
            "kind": self.method.sampler,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "num_instances": self.num_instances,
            "iters_per_epoch": self.iters_per_epoch,
        }

    def train(self, resume: bool = False) -> TrainSummary:
        """Run (or continue, with ``resume``) the training loop; see the module docstring."""
        # ---- set-up: device, process group, model, optimizer, data ----
        device = self._device = resolve_device(self.device_name)
        info = D.init_distributed(device)
        method = self.method.to(device)
        if self.channels_last:
            method.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        method.train()
        step_module = D.wrap_for_training(method, device, info, self.sync_bn)
        optimizer = torch.optim.SGD(
            _param_groups(method, self.backbone_lr_mult),
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
        )
        if self.amp == "fp16" and device.type != "cuda":
            raise TrainingError("train.amp=fp16 needs a CUDA device; use bf16 or none on CPU")
        scaler = torch.amp.GradScaler(device.type, enabled=self.amp == "fp16")
        sampler = build_sampler(
            self.method.sampler, self.records, self.batch_size, self.num_instances,
            self.seed, info.rank, info.world_size,
        )  # fmt: skip
        sampler.set_length(self.iters_per_epoch)
        batches = SeededBatches(sampler, self.seed)
        dataset = ImageDataset(self.records, build_transform(self.height, self.width, train=True))
        loader = build_train_loader(dataset, batches, self.workers, device.type == "cuda")
        metrics = MetricsWriter(self.out_dir / "metrics.jsonl", enabled=info.is_main)
        total = self.epochs * self.iters_per_epoch
        if self.max_iters > 0:
            total = min(total, self.max_iters)

        # ---- resume ----
        step, resumed_from = 0, None
        if self.checkpoint_path.is_file() and not resume:
            raise TrainingError(
                f"{self.checkpoint_path} exists: resume that run ({self.resume_hint}) or "
                f"choose another output folder"
            )
        if resume and self.checkpoint_path.is_file():
            step = self._load(method, optimizer, scaler, info)
            resumed_from = step
            log.info("%s: resumed from %s at iteration %d", self.name, self.checkpoint_path, step)

        metrics.truncate_after(step)  # drop what a killed run logged past its checkpoint

        # ---- the loop ----
        log.info(
            "%s: %d images, %d iterations (%d per epoch), batch %d on %d process(es), %s",
            self.name, len(self.records), total, self.iters_per_epoch, self.batch_size,
            info.world_size, device,
        )  # fmt: skip
        amp_dtype = AMP_DTYPES[self.amp]
        window: dict[str, torch.Tensor] = {}
        window_steps, last_losses, last_eval, images_per_s = 0, {}, {}, 0.0
        last_eval_step = -1
        t_window = time.perf_counter()
        bar = progress_bar(
            total=total, initial=step, desc=self.name, dynamic_ncols=True,
            disable=not (self.progress and info.is_main),
        )  # fmt: skip
        with StopRequest() as stop, bar:
            while step < total:
                epoch, offset = divmod(step, self.iters_per_epoch)
                if offset == 0:  # every epoch starts from RNG state f(seed, epoch, rank)
                    seed_everything(epoch_seed(self.seed, epoch, info.rank))
                batches.set_epoch(epoch, skip=offset)
                for batch in self._batches(loader, device, stop):
                    lr = lr_at(
                        step, self.lr, self.iters_per_epoch, self.lr_steps, self.gamma,
                        self.warmup_iters,
                    )  # fmt: skip
                    for group in optimizer.param_groups:
                        group["lr"] = lr * group["lr_mult"]
                    with torch.autocast(
                        device.type, dtype=amp_dtype, enabled=amp_dtype is not None
                    ):
                        out = step_module(batch, step)
                    loss = out["loss"]
                    bad = not bool(torch.isfinite(loss.detach()).all())
                    bad, stopping = D.any_flags([bad, stop.requested], device)
                    if bad:
                        raise self._nonfinite_error(step, epoch, out)
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                    step += 1
                    bar.update(1)
                    for key, value in out.items():
                        window[key] = window.get(key, 0.0) + value.detach().float()
                    window_steps += 1
                    if step % self.log_every == 0 or step == total:
                        elapsed = time.perf_counter() - t_window
                        images_per_s = window_steps * self.batch_size / max(elapsed, 1e-9)
                        last_losses = {k: float(v) / window_steps for k, v in window.items()}
                        metrics.write(
                            {"step": step, "epoch": epoch, "lr": lr, **last_losses,
                             "images_per_s": round(images_per_s, 2)}
                        )  # fmt: skip
                        bar.set_postfix({k: f"{v:.3f}" for k, v in last_losses.items()})
                        window, window_steps, t_window = {}, 0, time.perf_counter()
                    if self.on_step is not None:
                        self.on_step(step, {k: float(v.detach()) for k, v in out.items()})
                    if stopping:
                        self._save(method, optimizer, scaler, step, info)
                        raise TrainingInterrupted(self._interrupted(stop, step, total))
                    if step >= total:
                        break
                if stop.requested and step < total:
                    # loader ended early: workers got the signal too (SIGTERM to the group)
                    self._save(method, optimizer, scaler, step, info)
                    raise TrainingInterrupted(self._interrupted(stop, step, total))
                end_of_epoch = step % self.iters_per_epoch == 0
                if end_of_epoch or step >= total:
                    self._save(method, optimizer, scaler, step, info)
                    done_epochs = step // self.iters_per_epoch
                    if (
                        self.eval_fn is not None
                        and end_of_epoch
                        and self.eval_every > 0
                        and done_epochs % self.eval_every == 0
                    ):
                        last_eval = self._evaluate(method, step, done_epochs, metrics, info)
                        last_eval_step = step
            if self.eval_fn is not None and last_eval_step != step:
                last_eval = self._evaluate(
                    method, step, step // self.iters_per_epoch, metrics, info
                )
        D.broadcast_buffers(method)  # all ranks end with the model rank 0 saved
        return TrainSummary(
            steps=step,
            epochs_done=step // self.iters_per_epoch,
            checkpoint=self.checkpoint_path,
            losses=last_losses,
            eval=last_eval,
            images_per_s=images_per_s,
            resumed_from_step=resumed_from,
            stopped_early=step < self.epochs * self.iters_per_epoch,
        )

    # ---- helpers (each used once above; kept out of the loop so it reads straight) ----

    def _interrupted(self, stop: StopRequest, step: int, total: int) -> str:
        return (
            f"{self.name}: stopped by {stop.signal_name or 'another rank'} after iteration "
            f"{step} of {total}; checkpoint saved to {self.checkpoint_path}. "
            f"Resume with: {self.resume_hint}"
        )

    def _batches(
        self, loader: torch.utils.data.DataLoader, device: torch.device, stop: StopRequest
    ) -> Iterator[Batch]:
        """Device batches; ends quietly if the loader fails after a stop was requested."""
        batches = iterate(loader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception:
                if stop.requested:  # workers killed by the same signal: RuntimeError, EOFError...
                    return
                raise
            batch = batch.to(device, non_blocking=True)
            if self.channels_last:
                batch.images = batch.images.contiguous(memory_format=torch.channels_last)
            yield batch

    def _nonfinite_error(
        self, step: int, epoch: int, out: dict[str, torch.Tensor]
    ) -> TrainingError:
        terms = ", ".join(f"{k}={float(v.detach()):.6g}" for k, v in out.items())
        last = (
            str(self.checkpoint_path)
            if self.checkpoint_path.is_file()
            else "none (no epoch finished yet)"
        )
        return TrainingError(
            f"{self.name}: non-finite loss at iteration {step} (epoch {epoch}): {terms}. "
            f"Last good checkpoint: {last}. Try a lower train.lr or train.amp=none."
        )

    def _save(
        self,
        method: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        step: int,
        info: D.DistInfo,
    ) -> None:
        rng = D.gather_objects(capture_rng())
        error = ""
        if info.is_main:
            try:
                self._write_checkpoint(method, optimizer, scaler, step, info, rng)
            except WriteError as e:  # disk full, read-only folder, ...
                error = str(e)
        (failed,) = D.any_flags([bool(error)], self._device)
        if failed:
            raise TrainingError(
                f"{self.name}: {error or 'rank 0 could not write the checkpoint'} at iteration "
                f"{step}; the previous checkpoint (if any) is intact. Free space and resume: "
                f"{self.resume_hint}"
            )
        D.barrier()

    def _write_checkpoint(
        self,
        method: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        step: int,
        info: D.DistInfo,
        rng: list,
    ) -> None:
        save_checkpoint(
            self.checkpoint_path,
            {
                "kind": "train-state",
                "method": self.method_name,
                "config": self.config,
                "model": method.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "scheduler": {
                    "base_lr": self.lr, "lr_steps": self.lr_steps, "gamma": self.gamma,
                    "warmup_iters": self.warmup_iters, "backbone_lr_mult": self.backbone_lr_mult,
                },
                "sampler": self._sampler_meta(),
                "step": step,
                "epoch": step // self.iters_per_epoch,
                "batch_in_epoch": step % self.iters_per_epoch,
                "world_size": info.world_size,
                "rng": rng,
            },
        )  # fmt: skip

    def _load(
        self,
        method: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        info: D.DistInfo,
    ) -> int:
        path = self.checkpoint_path
        state = load_checkpoint(path, expected_kind="train-state", expected_method=self.method_name)
        diffs = config_diff(state.get("sampler", {}), self._sampler_meta())
        if self.config and state.get("config"):
            diffs += resume_diff(state["config"], self.config)
        if diffs:
            raise TrainingError(
                f"{path}: cannot resume, the run's settings differ from the checkpoint's: "
                + "; ".join(diffs)
            )
        load_state_dict_checked(method, state["model"], str(path))
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        rngs = state["rng"]
        restore_rng(rngs[info.rank] if info.rank < len(rngs) else rngs[0])
        return int(state["step"])

    def _evaluate(
        self, method: Method, step: int, epoch: int, metrics: MetricsWriter, info: D.DistInfo
    ) -> dict:
        """Runs ``eval_fn`` once, on rank 0; the other ranks wait."""
        result: dict = {}
        if info.is_main and self.eval_fn is not None:
            method.eval()
            result = self.eval_fn(method, step)
            method.train()
            metrics.write({"step": step, "epoch": epoch, "eval": result})
        D.barrier()
        return result


def _param_groups(method: nn.Module, backbone_lr_mult: float) -> list[dict[str, Any]]:
    """The trainable parameters as SGD groups, each with an ``lr_mult`` on the scheduled rate.

    The method's ``backbone`` (the network that may start from ImageNet weights) learns at
    ``backbone_lr_mult`` times the rate of everything else (new heads, projections, E, C).
    The parameters come from ``method.trainable_parameters()`` when defined (frozen
    sub-networks are left out), else from every parameter needing grad.
    """
    own = getattr(method, "trainable_parameters", None)
    params = list(own()) if callable(own) else [p for p in method.parameters() if p.requires_grad]
    if not params:
        raise TrainingError(f"{type(method).__name__} has no trainable parameters")
    backbone = getattr(method, "backbone", None)
    in_backbone = (
        {id(p) for p in backbone.parameters()} if isinstance(backbone, nn.Module) else set()
    )
    groups = [
        {"params": [p for p in params if id(p) in in_backbone], "lr_mult": backbone_lr_mult},
        {"params": [p for p in params if id(p) not in in_backbone], "lr_mult": 1.0},
    ]
    return [g for g in groups if g["params"]]
