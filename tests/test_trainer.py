"""The trainer core on a tiny linear method over 32x16 images written by the test.

Shows: training lowers the loss and logs JSONL; a run killed at any iteration and resumed ends
with bit-identical weights; SIGTERM saves and names the resume command; SIGKILL leaves a loadable
checkpoint; a NaN loss names the iteration, the terms and the checkpoint; a broken image in a
DataLoader worker surfaces as its own DatasetError message.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dgreid.engine import (
    ImageStream,
    RunLabels,
    Trainer,
    TrainingInterrupted,
    TrainSettings,
    load_checkpoint,
)
from dgreid.engine.lr import lr_at
from dgreid.engine.metrics_log import read_metrics
from dgreid.errors import DatasetError, TrainingError
from dgreid.methods.base import Method
from dgreid.structures import Batch, ImageRecord

H, W = 32, 16
TESTS = Path(__file__).parent


class TinyMethod(Method):
    """4x2 average pool, linear embedding, linear classifier, cross-entropy; no BN, no dropout."""

    sampler = "pk"
    name = "tiny"

    def __init__(self, num_pids: int, sampler: str = "pk", nan_at: int = -1) -> None:
        super().__init__()
        self.sampler = sampler  # type: ignore[misc]
        self.nan_at = nan_at
        self.embed_layer = nn.Linear(3 * 4 * 2, 8)
        self.classifier = nn.Linear(8, num_pids)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed_layer(F.adaptive_avg_pool2d(images, (4, 2)).flatten(1))

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        logits = self.classifier(self.embed(batch.images))
        ce = F.cross_entropy(logits, batch.pids)
        reg = 1e-3 * self.embed_layer.weight.pow(2).sum()
        loss = ce + reg
        if step == self.nan_at:
            loss = loss * float("nan")
        return {"loss": loss, "ce": ce.detach(), "reg": reg.detach()}


def write_tiny_dataset(root: Path, domains: int = 3, pids: int = 4, per_pid: int = 3) -> list:
    """``domains`` x ``pids`` identities, each a colour plus noise, as 32x16 PNG files."""
    rng = np.random.default_rng(0)
    records = []
    for d in range(domains):
        for p in range(pids):
            gid = d * pids + p
            colour = rng.integers(0, 256, size=3)
            for i in range(per_pid):
                pixels = np.clip(colour + rng.integers(-20, 21, size=(H, W, 3)), 0, 255)
                path = root / f"d{d}" / f"{gid:03d}_c{i % 2}_{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels.astype(np.uint8)).save(path)
                records.append(ImageRecord(str(path), gid, i % 2, d))
    return records


def make_trainer(method: Method, records: list, out: Path, **kw: object) -> Trainer:
    """A Trainer of ``method`` on ``records``; ``kw`` are fields of TrainSettings, ImageStream
    or RunLabels (``method_name`` is RunLabels.method) or Trainer keywords."""
    kw.setdefault("progress", False)
    settings: dict = dict(epochs=3, iters_per_epoch=4, batch_size=8, lr=0.1, lr_steps=[2],
                          seed=3, device="cpu", log_every=1)  # fmt: skip
    stream: dict = dict(num_instances=2, height=H, width=W)
    labels: dict = {}
    if "method_name" in kw:
        labels["method"] = kw.pop("method_name")
    for key in list(kw):
        for target, cls in ((settings, TrainSettings), (stream, ImageStream), (labels, RunLabels)):
            if key in {f.name for f in dataclasses.fields(cls)}:
                target[key] = kw.pop(key)
    return Trainer(
        method,
        ImageStream(records, **stream),
        out,
        TrainSettings(**settings),
        RunLabels(**labels),
        **kw,  # type: ignore[arg-type]
    )


def fresh(num_pids: int = 12, **kw: object) -> TinyMethod:
    torch.manual_seed(0)
    return TinyMethod(num_pids, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list:
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def reference(records: list, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Weights of an uninterrupted 12-iteration run (the target of every resume test)."""
    method = fresh()
    make_trainer(method, records, tmp_path_factory.mktemp("ref")).train()
    return {k: v.clone() for k, v in method.state_dict().items()}


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs"


def test_training_lowers_loss_and_logs(records: list, tmp_path: Path) -> None:
    evals = []

    def eval_fn(method: Method, step: int) -> dict:
        evals.append(step)
        return {"rank1": 0.5}

    summary = make_trainer(
        fresh(), records, tmp_path, epochs=4, eval_fn=eval_fn, eval_every=2
    ).train()
    assert summary.steps == 16 and summary.epochs_done == 4 and not summary.stopped_early
    assert evals == [8, 16] and summary.eval == {"rank1": 0.5}
    logs = read_metrics(tmp_path / "metrics.jsonl")
    train_logs = [r for r in logs if "loss" in r]
    assert [r["step"] for r in train_logs] == list(range(1, 17))
    assert {"step", "epoch", "lr", "loss", "ce", "reg", "images_per_s"} <= train_logs[0].keys()
    first, last = train_logs[:4], train_logs[-4:]
    assert sum(r["loss"] for r in last) < sum(r["loss"] for r in first)
    assert train_logs[0]["lr"] == pytest.approx(0.1) and train_logs[-1]["lr"] == pytest.approx(0.01)
    assert [r["eval"] for r in logs if "eval" in r] == [{"rank1": 0.5}] * 2
    state = load_checkpoint(summary.checkpoint, expected_kind="train-state", expected_method="tiny")
    assert state["step"] == 16 and state["sampler"]["seed"] == 3


def test_lr_schedule_warmup_and_steps() -> None:
    assert lr_at(0, 0.1, 10, [2], 0.1, warmup_iters=4) == pytest.approx(0.025)
    assert lr_at(3, 0.1, 10, [2], 0.1, warmup_iters=4) == pytest.approx(0.1)
    assert lr_at(19, 0.1, 10, [2], 0.1) == pytest.approx(0.1)
    assert lr_at(20, 0.1, 10, [2, 3], 0.1) == pytest.approx(0.01)
    assert lr_at(30, 0.1, 10, [2, 3], 0.1) == pytest.approx(0.001)


@pytest.mark.parametrize("kill_after", [1, 6, 8])
def test_killed_and_resumed_run_matches_uninterrupted(
    records: list, reference: dict, tmp_path: Path, kill_after: int
) -> None:
    def crash(step: int, losses: dict) -> None:
        if step == kill_after:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        make_trainer(fresh(), records, tmp_path, on_step=crash).train()
    method = fresh(12)
    torch.manual_seed(1234)  # a different RNG state: resume must not depend on it
    summary = make_trainer(method, records, tmp_path).train(resume=True)
    # on_step runs before the epoch-end save, so a crash at step 8 loses epoch 2 too
    assert summary.resumed_from_step == (((kill_after - 1) // 4) * 4 or None)
    assert summary.steps == 12
    assert_same_weights(method.state_dict(), reference)
    steps = [r["step"] for r in read_metrics(tmp_path / "metrics.jsonl") if "loss" in r]
    assert steps == list(range(1, 13))  # the killed run's extra lines were dropped


def test_refuses_to_overwrite_or_resume_with_other_settings(records: list, tmp_path: Path) -> None:
    make_trainer(fresh(), records, tmp_path, max_iters=4).train()
    with pytest.raises(TrainingError, match="exists"):
        make_trainer(fresh(), records, tmp_path).train(resume=False)
    with pytest.raises(TrainingError, match=r"seed: 3 -> 4"):
        make_trainer(fresh(), records, tmp_path, seed=4).train(resume=True)


def test_nan_loss_names_iteration_terms_and_checkpoint(records: list, tmp_path: Path) -> None:
    with pytest.raises(TrainingError) as err:
        make_trainer(fresh(nan_at=5), records, tmp_path).train()
    msg = str(err.value)
    assert "iteration 5 (epoch 1)" in msg and "loss=nan" in msg and "ce=" in msg
    assert str(tmp_path / "checkpoints" / "last.pt") in msg
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 4


def test_worker_dataset_error_surfaces_cleanly(records: list, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    recs = [ImageRecord(str(bad), r.pid, r.camid, r.domain) if i == 0 else r
            for i, r in enumerate(records)]  # fmt: skip
    trainer = make_trainer(fresh(), recs, tmp_path / "out", workers=1, iters_per_epoch=12)
    with pytest.raises(DatasetError) as err:
        trainer.train()
    assert str(err.value).startswith(f"{bad}: cannot decode image")
    assert "Traceback" not in str(err.value)


def test_episodic_sampler_trains(records: list, tmp_path: Path) -> None:
    seen = []
    method = fresh(sampler="episodic")
    original = method.train_step

    def spy(batch: Batch, step: int) -> dict:
        seen.append(set(batch.domains.tolist()))
        return original(batch, step)

    method.train_step = spy  # type: ignore[method-assign]
    make_trainer(method, records, tmp_path, max_iters=6).train()
    assert len(seen) == 6 and all(len(s) == 1 for s in seen)


SCRIPT = """
import os, signal, sys, torch
sys.path.insert(0, {tests!r})
from test_trainer import fresh, make_trainer, write_tiny_dataset
from pathlib import Path
records = write_tiny_dataset(Path({data!r}))
def hook(step, losses):
    if step == {at}:
        os.killpg(os.getpgid(0), signal.{sig})  # the whole group, workers included
make_trainer(fresh(), records, Path({out!r}), on_step=hook, workers={workers},
             resume_hint="dgreid train cfg.yaml --resume").train()
"""


def run_script(tmp_path: Path, sig: str, at: int, workers: int) -> subprocess.CompletedProcess:
    code = SCRIPT.format(tests=str(TESTS), data=str(tmp_path / "data"), out=str(tmp_path / "out"),
                         at=at, sig=sig, workers=workers)  # fmt: skip
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, start_new_session=True,
    )  # fmt: skip


def test_sigterm_saves_and_prints_resume_command(tmp_path: Path) -> None:
    proc = run_script(tmp_path, "SIGTERM", at=5, workers=1)
    assert proc.returncode != 0
    assert "TrainingInterrupted" in proc.stderr and "stopped by SIGTERM" in proc.stderr
    assert "Resume with: dgreid train cfg.yaml --resume" in proc.stderr
    state = load_checkpoint(tmp_path / "out" / "checkpoints" / "last.pt")
    # the signal came during step 5; step 6 runs too if its batch was already loaded when the
    # workers (signalled with the group) died
    assert state["step"] in (5, 6) and state["batch_in_epoch"] == state["step"] - 4
    assert f"after iteration {state['step']} of 12" in proc.stderr
    # resuming in the middle of the epoch ends with the uninterrupted weights
    records = write_tiny_dataset(tmp_path / "data")
    method, ref = fresh(), fresh()
    make_trainer(method, records, tmp_path / "out").train(resume=True)
    make_trainer(ref, records, tmp_path / "ref").train()
    assert_same_weights(method.state_dict(), ref.state_dict())


def test_sigkill_leaves_last_complete_checkpoint(tmp_path: Path) -> None:
    proc = run_script(tmp_path, "SIGKILL", at=9, workers=0)
    assert proc.returncode == -9
    state = load_checkpoint(tmp_path / "out" / "checkpoints" / "last.pt")
    assert state["step"] == 8


def test_signal_handlers_are_restored(records: list, tmp_path: Path) -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM)
    make_trainer(fresh(), records, tmp_path, max_iters=2).train()
    assert signal.getsignal(signal.SIGTERM) is before
    assert isinstance(TrainingInterrupted("x"), TrainingError)
    assert os.path.isfile(tmp_path / "checkpoints" / "last.pt")


def registered_methods() -> list[str]:
    from dgreid.methods import METHODS

    return METHODS.names()


@pytest.mark.parametrize("name", registered_methods())
def test_every_registered_method_trains_two_iterations(
    name: str, records: list, tmp_path: Path
) -> None:
    from dgreid.config import Config, MethodConfig
    from dgreid.methods import method_from_config

    cfg = Config(method=MethodConfig.of(name))
    cfg.model.backbone = "convnet_dualnorm"  # a DualNorm network: every method accepts one
    cfg.model.extractor = "convnet_small"
    cfg.model.pretrained = "none"
    cfg.model.width_mult = 0.25
    recs = [r for r in records if r.domain == 0] if name == "extractor" else records
    torch.manual_seed(0)
    method = method_from_config(
        cfg, num_classes=len({r.pid for r in recs}), num_domains=3, total_steps=2,
        placeholder_extractors=True,
    )  # fmt: skip
    before = [p.detach().clone() for p in method.trainable_parameters()]
    summary = make_trainer(method, recs, tmp_path, max_iters=2, method_name=name).train()
    assert summary.steps == 2 and all(np.isfinite(v) for v in summary.losses.values())
    after = method.trainable_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, after)), "nothing was updated"
    assert load_checkpoint(summary.checkpoint, expected_method=name)["step"] == 2


def test_worker_processes_do_not_change_the_result(records: list, tmp_path: Path) -> None:
    """Per-image seeds: augmentation is the same in the main process and in a worker."""
    a, b = fresh(), fresh()
    make_trainer(a, records, tmp_path / "w0", max_iters=4, workers=0).train()
    make_trainer(b, records, tmp_path / "w1", max_iters=4, workers=1).train()
    assert_same_weights(a.state_dict(), b.state_dict())


def test_bf16_autocast_and_channels_last_run_on_cpu(records: list, tmp_path: Path) -> None:
    summary = make_trainer(
        fresh(), records, tmp_path, max_iters=2, amp="bf16", channels_last=True
    ).train()
    assert summary.steps == 2 and np.isfinite(summary.losses["loss"])
    with pytest.raises(TrainingError, match="fp16 needs a CUDA device"):
        make_trainer(fresh(), records, tmp_path / "fp16", amp="fp16").train()
    with pytest.raises(TrainingError, match="train.amp='fp8'"):
        make_trainer(fresh(), records, tmp_path / "fp8", amp="fp8")


def test_disk_full_keeps_previous_checkpoint_and_names_path(
    records: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    real_save = torch.save
    calls = []

    def save(obj: object, f: object) -> None:
        calls.append(1)
        if len(calls) == 2:  # the second checkpoint: the disk is full half-way through
            f.write(b"partial")  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(TrainingError) as err:
        make_trainer(fresh(), records, tmp_path).train()
    msg = str(err.value)
    ckpt = tmp_path / "checkpoints" / "last.pt"
    assert f"could not write {ckpt}: No space left on device at iteration 8" in msg
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(ckpt)["step"] == 4  # the previous one, intact
    assert [p.name for p in ckpt.parent.iterdir()] == ["last.pt"]  # no temporary file left


def test_resume_mid_epoch_with_changed_watch_keys_matches_uninterrupted(
    records: list, reference: dict, tmp_path: Path
) -> None:
    # one resume rule (engine.checkpoint_file.RESUME_FREE_KEYS): keys that change how a run is
    # watched (log_every, workers, eval batch) may differ; the weights end the same
    saved = {"train": {"log_every": 20, "lr": 0.1}, "data": {"workers": 0},
             "eval": {"batch_size": 128}}  # fmt: skip
    changed = {"train": {"log_every": 5, "lr": 0.1}, "data": {"workers": 1},
               "eval": {"batch_size": 64}}  # fmt: skip

    def crash(step: int, losses: dict) -> None:
        if step == 6:  # mid-epoch 2 (4 iterations per epoch)
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        make_trainer(fresh(), records, tmp_path, on_step=crash, config=saved).train()
    method = fresh()
    summary = make_trainer(method, records, tmp_path, config=changed, workers=1).train(resume=True)
    assert summary.resumed_from_step == 4 and summary.steps == 12
    assert_same_weights(method.state_dict(), reference)
    # a key that changes what is computed is still refused
    with pytest.raises(TrainingError, match=r"train.lr: 0.1 -> 0.2"):
        other = {**changed, "train": {"log_every": 5, "lr": 0.2}}
        make_trainer(fresh(), records, tmp_path, config=other).train(resume=True)


class WithBackbone(TinyMethod):
    """TinyMethod whose embedding layer is called ``backbone`` (the pretrained part)."""

    def __init__(self, num_pids: int) -> None:
        super().__init__(num_pids)
        self.backbone = self.embed_layer


def test_backbone_lr_mult_scales_only_the_backbone(records: list, tmp_path: Path) -> None:
    torch.manual_seed(0)
    method = WithBackbone(12)
    before = {k: v.clone() for k, v in method.state_dict().items()}
    make_trainer(method, records, tmp_path, max_iters=2, backbone_lr_mult=0.0).train()
    after = method.state_dict()
    assert torch.equal(after["backbone.weight"], before["backbone.weight"])  # lr 0 x 0.1
    assert not torch.equal(after["classifier.weight"], before["classifier.weight"])
    logs = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "loss" in r]
    assert logs[0]["lr"] == pytest.approx(0.1)  # the logged rate is the heads' rate


def test_adam_optimizer_keeps_the_backbone_rate_and_rejects_unknown_names() -> None:
    from dgreid.engine.optim import build_optimizer, set_lr
    from dgreid.engine.settings import TrainSettings

    method = WithBackbone(12)
    opt = build_optimizer(method, TrainSettings(optimizer="adam", lr=0.01, backbone_lr_mult=0.1))
    assert isinstance(opt, torch.optim.Adam)
    set_lr(opt, TrainSettings(optimizer="adam", lr=0.01, backbone_lr_mult=0.1), 0, 10)
    rates = sorted(g["lr"] for g in opt.param_groups)
    assert rates == pytest.approx([0.001, 0.01])
    assert isinstance(build_optimizer(method, TrainSettings()), torch.optim.SGD)
    with pytest.raises(TrainingError, match=r"train.optimizer='adamw'.*sgd, adam"):
        TrainSettings(optimizer="adamw")


def test_train_settings_are_the_train_section_plus_the_loops_other_keys() -> None:
    """Every ``train`` key reaches the trainer without a hand-written copy: each field of
    TrainConfig is the settings' field (those below set to values that are not the default)."""
    from dgreid.config.schema import Config, TrainConfig
    from dgreid.experiments.trainer_args import train_settings

    changed: dict[str, Any] = {
        "epochs": 3, "iters_per_epoch": 5, "lr": 0.2, "optimizer": "adam", "momentum": 0.5,
        "weight_decay": 1e-3, "lr_steps": [2], "gamma": 0.5, "warmup_iters": 4,
        "backbone_lr_mult": 0.1, "seed": 9, "device": "cpu", "amp": "bf16", "threads": 2,
        "log_every": 3, "eval_every": 1, "max_iters": 11,
    }  # fmt: skip
    cfg = Config(train=TrainConfig(**changed))
    cfg.data.batch_size, cfg.model.channels_last, cfg.model.sync_bn = 12, True, True
    s = train_settings(cfg)
    assert {k: getattr(s, k) for k in changed} == changed
    assert dataclasses.asdict(cfg.train) == {
        f.name: getattr(s, f.name) for f in dataclasses.fields(TrainConfig)
    }
    assert (s.batch_size, s.channels_last, s.sync_bn) == (12, True, True)
    assert isinstance(s, TrainConfig)


class FirstOrderMLDG(Method):
    """One weight ``w`` and the loss ``(w - 3)^2`` (the images do not enter it), updated by its
    own rule: first-order MLDG, ``w <- w - lr * (g(w) + g(w - inner_lr * g(w)))`` with
    ``g(w) = 2 (w - 3)``, the second gradient from the trainer's ``recompute()``."""

    name = "mldg"

    def __init__(self, inner_lr: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.inner_lr = inner_lr
        self.updates: list[int] = []

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)[:, :2] * self.w

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        return {"loss": (self.w - 3) ** 2}

    def optimizer_step(
        self,
        losses: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        step: int,
        recompute: Callable[[], dict[str, torch.Tensor]],
    ) -> None:
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        assert self.w.grad is not None
        g = self.w.grad.detach().clone()
        with torch.no_grad():
            self.w.sub_(self.inner_lr * g)  # the inner (meta-train) step
        self.w.grad = None
        recompute()["loss"].backward()  # the meta-test gradient at the moved weight
        with torch.no_grad():
            self.w.add_(self.inner_lr * g)  # back to where the step started
        assert self.w.grad is not None
        self.w.grad.add_(g)
        scaler.step(optimizer)
        scaler.update()
        self.updates.append(step)


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_a_method_that_overrides_the_optimizer_step_updates_by_its_own_rule(
    records: list, tmp_path: Path, amp: str
) -> None:
    """Two iterations at lr 0.1 (plain SGD), inner rate 0.1, from w = 0, by hand:
    step 0: g = 2(0 - 3) = -6, inner w' = 0.6, g' = 2(0.6 - 3) = -4.8, w = 0 + 0.1 * 10.8 = 1.08;
    step 1: g = -3.84, w' = 1.464, g' = -3.072, w = 1.08 + 0.1 * 6.912 = 1.7712.
    The default step (w <- w - lr g) would end at 1.08: 0.6, then 0.6 + 0.1 * 4.8."""
    method = FirstOrderMLDG(inner_lr=0.1)
    trainer = make_trainer(method, records, tmp_path, epochs=1, iters_per_epoch=2, lr_steps=[],
                           momentum=0.0, weight_decay=0.0, amp=amp)  # fmt: skip
    trainer.train()
    assert method.updates == [0, 1]
    assert float(method.w.detach()) == pytest.approx(1.7712, abs=1e-6)


def test_the_default_optimizer_step_unscales_a_scaled_loss() -> None:
    """An enabled GradScaler (fp16's) multiplies the loss by 2**16 before backward and divides
    the gradient again before the step: w = 0 with loss (w - 3)^2 moves to 0.1 * 6 = 0.6."""
    method = FirstOrderMLDG(inner_lr=0.0)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16, enabled=True)
    loss = {"loss": (method.w - 3) ** 2}
    Method.optimizer_step(method, loss, optimizer, scaler, 0, recompute=lambda: pytest.fail())
    assert float(method.w.detach()) == pytest.approx(0.6, abs=1e-6)
    assert scaler.get_scale() == 2.0**16  # no overflow: the scale stays until its growth interval


def test_progress_lines_show_losses_from_the_first_step_the_epoch_and_the_final_loss(
    records: list, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DGREID_PROGRESS_EVERY", "0")  # a plain line per iteration
    make_trainer(fresh(), records, tmp_path, progress=True, log_every=5).train()
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("train: ")]
    assert len(lines) == 12
    assert "1/12 it" in lines[0] and "epoch=1/3" in lines[0] and "loss=" in lines[0]
    assert "epoch=2/3" in lines[4] and "epoch=3/3" in lines[-1]
    last_logged = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "loss" in r][-1]
    assert last_logged["step"] == 12
    assert f"loss={last_logged['loss']:.3f}" in lines[-1]
    assert f"ce={last_logged['ce']:.3f}" in lines[-1]


def test_a_truncated_last_checkpoint_falls_back_to_the_previous_one(
    records: list, reference: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(step: int, losses: dict) -> None:
        if step == 10:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        make_trainer(fresh(), records, tmp_path, on_step=crash).train()
    ckpt = tmp_path / "checkpoints" / "last.pt"
    previous = ckpt.with_name("last.prev.pt")
    assert load_checkpoint(ckpt)["step"] == 8 and load_checkpoint(previous)["step"] == 4
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # a copy cut short
    method = fresh()
    summary = make_trainer(method, records, tmp_path).train(resume=True)
    assert summary.resumed_from_step == 4 and summary.steps == 12
    assert_same_weights(method.state_dict(), reference)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(str(previous) in m and "iteration 4" in m for m in warned)

    ckpt.unlink()  # killed between the two renames: only the previous one is there
    with pytest.raises(TrainingError, match="exists"):
        make_trainer(fresh(), records, tmp_path).train(resume=False)
