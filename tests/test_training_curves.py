"""A run's training curves (``RUN/curves.png`` in ``RUN/report.html``), the metrics log's clock,
and the optional TensorBoard mirror of the metrics log (``train.tensorboard``)."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from conftest import tiny_config
from dgreid.config import Config
from dgreid.engine.metrics_log import MetricsWriter, read_metrics
from dgreid.errors import TrainingError
from dgreid.experiments.train_run import run_training, write_training_report
from dgreid.report.html import write_run_report
from dgreid.report.plots import plot_training_curves, training_series
from test_trainer import fresh, make_trainer, write_tiny_dataset

RECORDS = [
    {"step": 10, "epoch": 0, "lr": 0.1, "loss": 3.0, "cls": 2.0, "images_per_s": 50.0},
    {"step": 20, "epoch": 0, "lr": 0.1, "loss": 2.0, "cls": 1.5, "images_per_s": 60.0},
    {"step": 20, "epoch": 0, "eval": {"average": {"rank1": 0.25}, "targets": {}}},
    {"step": 30, "epoch": 1, "lr": 0.01, "loss": 1.0, "cls": 0.5, "images_per_s": 70.0},
]


def test_training_series_are_the_loss_terms_lr_and_evaluations() -> None:
    series = training_series(RECORDS)
    assert list(series) == ["loss", "cls", "lr", "target rank-1 (%)"]
    assert series["loss"] == ([10, 20, 30], [3.0, 2.0, 1.0])
    assert series["cls"] == ([10, 20, 30], [2.0, 1.5, 0.5])
    assert series["lr"] == ([10, 20, 30], [0.1, 0.1, 0.01])
    assert series["target rank-1 (%)"] == ([20], [25.0])


def test_curves_png_written_or_none_without_records(tmp_path: Path) -> None:
    path = plot_training_curves(tmp_path / "curves.png", RECORDS, "run")
    assert path == tmp_path / "curves.png"
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width > 300
    assert plot_training_curves(tmp_path / "none.png", [], "run") is None
    assert not (tmp_path / "none.png").exists()
    # evaluation lines alone hold no loss and no lr: still one curve (rank-1)
    assert plot_training_curves(tmp_path / "eval.png", RECORDS[2:3]) == tmp_path / "eval.png"


def test_run_report_without_curves_has_no_picture(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    facts, tables = {"method": "x"}, {"T": "a  b"}
    page = write_run_report(path, title="r", facts=facts, tables=tables, curves=None).read_text()
    assert "<img" not in page and "curves.png" not in page
    assert "No training metrics were logged" in page and "<pre>a  b</pre>" in page


def test_report_of_a_run_with_no_metrics_drops_an_earlier_picture(tmp_path: Path) -> None:
    (tmp_path / "curves.png").write_bytes(b"from an earlier start")
    page = write_training_report(Config(), tmp_path, None, None).read_text()
    assert not (tmp_path / "curves.png").exists() and "<img" not in page


def test_tiny_run_writes_curves_into_its_report(episodic_run: Path) -> None:
    """The main run's curves (not its stage-1 networks'): every loss term the episodic method
    logs is a panel; the report embeds the PNG and links to it."""
    curves = episodic_run / "curves.png"
    assert curves.is_file() and not list((episodic_run / "stage1").rglob("curves.png"))
    page = (episodic_run / "report.html").read_text()
    assert 'href="curves.png"' in page and "data:image/png;base64," in page
    assert "DG evaluation on unseen targets (episodic)" in page
    logged = [r for r in read_metrics(episodic_run / "metrics.jsonl") if "loss" in r]
    assert {"cls", "tri", "consis"} <= set(training_series(logged))


def test_elapsed_time_goes_on_after_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        "".join(
            json.dumps({"step": s, "loss": 1.0, "elapsed_s": e}) + "\n"
            for s, e in [(1, 100.0), (2, 200.0)]
        )
        + '{"step": 3, "lo'  # fmt: skip
    )
    writer = MetricsWriter(path)
    writer.truncate_after(1)
    writer.write({"step": 2, "loss": 0.5})
    records = read_metrics(path)
    assert [r["step"] for r in records] == [1, 2]
    assert 100.0 <= records[1]["elapsed_s"] < 150.0


# ---------------------------------------------------------------- TensorBoard


def test_missing_tensorboard_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(TrainingError, match=r"pip install 'dgreid\[tensorboard\]'"):
        MetricsWriter(tmp_path / "metrics.jsonl", tensorboard=True)
    MetricsWriter(tmp_path / "metrics.jsonl", enabled=False, tensorboard=True)  # rank > 0: fine


def test_missing_tensorboard_fails_a_run_before_it_writes(
    monkeypatch: pytest.MonkeyPatch, tiny_benchmark: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    out = tmp_path / "run"
    cfg = tiny_config("baseline", tiny_benchmark, out, "train.tensorboard=true")
    with pytest.raises(TrainingError, match="train.tensorboard=true needs the tensorboard"):
        run_training(cfg)
    assert not out.exists()


class FakeSummaryWriter:
    """Records what the trainer sends to TensorBoard."""

    made: list[FakeSummaryWriter] = []

    def __init__(self, log_dir: str, purge_step: int | None = None) -> None:
        self.log_dir, self.purge_step = log_dir, purge_step
        self.scalars: list[tuple[str, float, int]] = []
        self.closed = False
        FakeSummaryWriter.made.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_tensorboard(monkeypatch: pytest.MonkeyPatch) -> type[FakeSummaryWriter]:
    module: Any = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = FakeSummaryWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    FakeSummaryWriter.made = []
    return FakeSummaryWriter


def test_trainer_sends_every_logged_scalar_to_tensorboard(
    fake_tensorboard: type[FakeSummaryWriter], tmp_path: Path
) -> None:
    records = write_tiny_dataset(tmp_path / "data")
    out = tmp_path / "run"

    def eval_fn(method: object, step: int) -> dict:
        return {"average": {"rank1": 0.5}}

    make_trainer(
        fresh(), records, out, epochs=1, tensorboard=True, eval_fn=eval_fn, log_every=2
    ).train()
    (writer,) = fake_tensorboard.made
    assert writer.log_dir == str(out / "tensorboard") and writer.closed
    tags = {tag for tag, _, _ in writer.scalars}
    assert tags == {
        "loss/loss", "loss/ce", "loss/reg", "train/lr", "train/images_per_s",
        "eval/average/rank1",
    }  # fmt: skip
    logged = {r["step"]: r for r in read_metrics(out / "metrics.jsonl") if "loss" in r}
    losses = [(step, value) for tag, value, step in writer.scalars if tag == "loss/ce"]
    assert losses == [(s, pytest.approx(r["ce"])) for s, r in logged.items()] and len(losses) == 2
    assert ("eval/average/rank1", 0.5, 4) in writer.scalars


def test_tensorboard_off_or_on_another_rank_opens_no_writer(
    fake_tensorboard: type[FakeSummaryWriter], tmp_path: Path
) -> None:
    MetricsWriter(tmp_path / "a.jsonl").write({"step": 1, "loss": 1.0})
    with MetricsWriter(tmp_path / "b.jsonl", enabled=False, tensorboard=True) as w:
        w.write({"step": 1, "loss": 1.0})
    assert fake_tensorboard.made == [] and not (tmp_path / "b.jsonl").exists()
