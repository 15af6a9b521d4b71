"""The trainer core: owns the loop; the method owns one training step.

``Trainer.train`` reads top to bottom: set up (device, process group, optimizer, data stream,
resume), then for every iteration: set the LR, run ``method.train_step`` under autocast, check the
loss is finite, let ``method.optimizer_step`` update the weights (by default: back-propagate and
step), log; at every epoch end write ``checkpoints/last.pt``
atomically and evaluate when asked. SIGINT/SIGTERM finish the step, save and raise
:class:`TrainingInterrupted`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dgreid.engine import distributed as D
from dgreid.engine.device import resolve_train_device
from dgreid.engine.metrics_log import LossWindow, MetricsWriter
from dgreid.engine.optim import build_optimizer, set_lr
from dgreid.engine.resume import RunCheckpoint
from dgreid.engine.rng import epoch_seed
from dgreid.engine.settings import AMP_DTYPES, RunLabels, TrainSettings
from dgreid.engine.signals import StopRequest, TrainingInterrupted
from dgreid.engine.stream import ImageStream
from dgreid.errors import TrainingError
from dgreid.methods.base import Method
from dgreid.structures import Batch
from dgreid.utils.progress import progress_bar
from dgreid.utils.seed import seed_everything

log = logging.getLogger(__name__)

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


class Trainer:
    """Trains ``method`` on ``stream``'s images as ``settings`` say; all output goes under
    ``out_dir``. ``eval_fn(method, step)`` runs on rank 0 every ``settings.eval_every`` epochs
    and at the end; ``on_step(step, losses)`` after every iteration (tests, tools)."""

    def __init__(
        self,
        method: Method,
        stream: ImageStream,
        out_dir: str | Path,
        settings: TrainSettings | None = None,
        labels: RunLabels | None = None,
        *,
        eval_fn: EvalFn | None = None,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
        progress: bool = True,
    ) -> None:
        self.method, self.stream, self.out_dir = method, stream, Path(out_dir)
        self.settings, self.labels = settings or TrainSettings(), labels or RunLabels()
        self.name = self.labels.name
        if len(stream) == 0:
            raise TrainingError(f"{self.name}: no training images")
        self.method_name = self.labels.method or getattr(method, "name", type(method).__name__)
        self.iters_per_epoch = self.settings.iterations_per_epoch(len(stream))
        self.eval_fn, self.on_step, self.progress = eval_fn, on_step, progress
        sampler_meta = {  # what must not change between a run and its resume
            "kind": method.sampler,
            "seed": self.settings.seed,
            "batch_size": self.settings.batch_size,
            "num_instances": stream.num_instances,
            "iters_per_epoch": self.iters_per_epoch,
        }
        self.checkpoint = RunCheckpoint(
            self.out_dir, self.labels, self.settings, self.method_name, sampler_meta
        )

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoint.path

    def train(self, resume: bool = False) -> TrainSummary:
        """Run (or continue, with ``resume``) the training loop; see the module docstring."""
        s, iters = self.settings, self.iters_per_epoch
        # ---- set-up: device, process group, model, optimizer, data ----
        device = resolve_train_device(s.device)
        info = D.init_distributed(device)
        method = self.method.to(device)
        if s.channels_last:
            method.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        method.train()
        step_module = D.wrap_for_training(method, device, info, s.sync_bn)
        if s.amp == "fp16" and device.type != "cuda":
            raise TrainingError("train.amp=fp16 needs a CUDA device; use bf16 or none on CPU")
        optimizer = build_optimizer(method, s)
        scaler = torch.amp.GradScaler(device.type, enabled=s.amp == "fp16")
        opt = (optimizer, scaler)
        stream = self.stream.open(
            self.method.sampler, s.batch_size, s.seed, iters, info.rank, info.world_size,
            pin_memory=device.type == "cuda",
        )  # fmt: skip
        metrics = MetricsWriter(
            self.out_dir / "metrics.jsonl", enabled=info.is_main, tensorboard=s.tensorboard
        )
        total = s.total_iterations(len(self.stream))

        # ---- resume ----
        step, resumed_from = 0, None  # the iteration to start at, and where a resume found it
        if self.checkpoint.exists() and not resume:
            raise TrainingError(
                f"{self.checkpoint_path} exists: resume that run ({self.labels.resume_hint}) or "
                f"choose another output folder"
            )
        if resume and self.checkpoint.exists():
            step = resumed_from = self.checkpoint.load(method, opt, info)
            log.info("%s: resumed from %s at iteration %d", self.name, self.checkpoint_path, step)
        metrics.truncate_after(step)  # drop what a killed run logged past its checkpoint

        # ---- the loop ----
        log.info(
            "%s: %d images, %d iterations (%d per epoch), batch %d on %d process(es), %s",
            self.name, len(self.stream), total, iters, s.batch_size, info.world_size, device,
        )  # fmt: skip
        amp_dtype = AMP_DTYPES[s.amp]
        last_losses: dict[str, float] = {}
        last_eval: dict = {}
        images_per_s, last_eval_step = 0.0, -1
        window = LossWindow()
        epochs = -(-total // iters)  # the epochs this run reaches (max_iters may cut the last)
        shown = self.progress and info.is_main
        bar = progress_bar(
            total=total, initial=step, desc=self.name, dynamic_ncols=True, disable=not shown
        )
        with StopRequest() as stop, bar, metrics:
            while step < total:
                epoch, offset = divmod(step, iters)
                if offset == 0:  # every epoch starts from RNG state f(seed, epoch, rank)
                    seed_everything(epoch_seed(s.seed, epoch, info.rank))
                for batch in self._batches(stream.epoch(epoch, skip=offset), device, stop):
                    lr = set_lr(optimizer, s, step, iters)

                    def losses(batch: Batch = batch, step: int = step) -> dict[str, torch.Tensor]:
                        with torch.autocast(
                            device.type, dtype=amp_dtype, enabled=amp_dtype is not None
                        ):
                            return step_module(batch, step)

                    out = losses()
                    bad = not bool(torch.isfinite(out["loss"].detach()).all())
                    bad, stopping = D.any_flags([bad, stop.requested], device)
                    if bad:
                        raise self._nonfinite_error(step, epoch, out)
                    method.optimizer_step(out, optimizer, scaler, step, losses)
                    step += 1
                    window.add(out)
                    if step % max(s.log_every, 1) == 0 or step == total:
                        last_losses, images_per_s = window.flush(s.batch_size)
                        record = {"step": step, "epoch": epoch, "lr": lr, **last_losses,
                                  "images_per_s": round(images_per_s, 2)}  # fmt: skip
                        if device.type == "cuda":  # this rank's peak since the process started
                            peak = torch.cuda.max_memory_allocated(device)
                            record["gpu_mem_gib"] = round(peak / 2**30, 3)
                        metrics.write(record)
                        bar.set_postfix(_postfix(epoch, epochs, last_losses))
                    elif shown and not last_losses:  # before the first log line: the losses so far
                        bar.set_postfix(_postfix(epoch, epochs, window.means()))
                    elif (step - 1) % iters == 0:  # an epoch's first step: its counter
                        bar.set_postfix(_postfix(epoch, epochs, last_losses))
                    bar.update(1)  # after the postfix: the line it may write shows this step
                    if self.on_step is not None:
                        self.on_step(step, {k: float(v.detach()) for k, v in out.items()})
                    if stopping:
                        self.checkpoint.save(method, opt, step, info, device)
                        raise TrainingInterrupted(self._interrupted(stop, step, total))
                    if step >= total:
                        break
                if stop.requested and step < total:
                    # loader ended early: workers got the signal too (SIGTERM to the group)
                    self.checkpoint.save(method, opt, step, info, device)
                    raise TrainingInterrupted(self._interrupted(stop, step, total))
                end_of_epoch = step % iters == 0
                if end_of_epoch or step >= total:
                    self.checkpoint.save(method, opt, step, info, device)
                    if end_of_epoch and s.eval_every > 0 and (step // iters) % s.eval_every == 0:
                        last_eval = self._evaluate(method, step, step // iters, metrics, info)
                        last_eval_step = step
            if last_eval_step != step:
                last_eval = self._evaluate(method, step, step // iters, metrics, info)
        D.broadcast_buffers(method)  # all ranks end with the model rank 0 saved
        return TrainSummary(
            steps=step,
            epochs_done=step // iters,
            checkpoint=self.checkpoint_path,
            losses=last_losses,
            eval=last_eval,
            images_per_s=images_per_s,
            resumed_from_step=resumed_from,
            stopped_early=step < s.epochs * iters,
        )

    # ---- helpers (each used once above; kept out of the loop so it reads straight) ----

    def _interrupted(self, stop: StopRequest, step: int, total: int) -> str:
        return (
            f"{self.name}: stopped by {stop.signal_name or 'another rank'} after iteration "
            f"{step} of {total}; checkpoint saved to {self.checkpoint_path}. "
            f"Resume with: {self.labels.resume_hint}"
        )

    def _batches(
        self, batches: Iterator[Batch], device: torch.device, stop: StopRequest
    ) -> Iterator[Batch]:
        """Device batches; ends quietly if the loader fails after a stop was requested."""
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
            if self.settings.channels_last:
                batch.images = batch.images.contiguous(memory_format=torch.channels_last)
            yield batch

    def _nonfinite_error(
        self, step: int, epoch: int, out: dict[str, torch.Tensor]
    ) -> TrainingError:
        terms = ", ".join(f"{k}={float(v.detach()):.6g}" for k, v in out.items())
        ckpt = self.checkpoint_path
        last = str(ckpt) if ckpt.is_file() else "none (no epoch finished yet)"
        return TrainingError(
            f"{self.name}: non-finite loss at iteration {step} (epoch {epoch}): {terms}. "
            f"Last good checkpoint: {last}. Try a lower train.lr or train.amp=none."
        )

    def _evaluate(
        self, method: Method, step: int, epoch: int, metrics: MetricsWriter, info: D.DistInfo
    ) -> dict:
        """Runs ``eval_fn`` once, on rank 0 (the other ranks wait); ``{}`` without one."""
        result: dict = {}
        if self.eval_fn is None:
            return result
        if info.is_main:
            method.eval()
            result = self.eval_fn(method, step)
            method.train()
            metrics.write({"step": step, "epoch": epoch, "eval": result})
        D.barrier()
        return result


def _postfix(epoch: int, epochs: int, losses: dict[str, float]) -> dict[str, str]:
    """The training bar's postfix: ``epoch=E/N`` (1-based) and each loss term to 3 decimals."""
    return {"epoch": f"{epoch + 1}/{epochs}", **{k: f"{v:.3f}" for k, v in losses.items()}}
