"""``dgreid runs DIR``: the run folders under a folder in one table (text or CSV)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import tiny_config
from dgreid.cli.main import main
from dgreid.experiments.runlist import RunInfo, differing_keys, runs_table
from dgreid.experiments.train_run import run_training
from dgreid.report.runs_table import config_value, duration


@pytest.fixture(scope="module")
def two_runs(tiny_benchmark: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two finished baseline runs, ``lr-a`` and ``lr-b``, that differ in train.lr alone."""
    root = tmp_path_factory.mktemp("runs")
    for name, lr in (("lr-a", "0.01"), ("lr-b", "0.02")):
        run_training(tiny_config("baseline", tiny_benchmark, root / name, f"train.lr={lr}"))
    return root


def _rank1(run: Path, target: str) -> float:
    return float(json.loads((run / "results.json").read_text())["targets"][target]["mean"]["rank1"])


def _text_rows(out: str) -> dict[str, list[str]]:
    """The table printed by ``dgreid runs``: its header and each run's row, as cells (columns
    are two or more spaces apart)."""
    lines = out.splitlines()
    cells = [re.split(r" {2,}", ln.strip()) for ln in lines[2:] if ln.startswith("lr-")]
    return {"run": re.split(r" {2,}", lines[0].strip()), **{c[0]: c for c in cells}}


def test_runs_lists_both_runs_and_the_key_they_differ_in(
    two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", str(two_runs)]) == 0
    rows = _text_rows(capsys.readouterr().out)
    header = rows["run"]
    assert list(rows) == ["run", "lr-a", "lr-b"]
    lr = header.index("train.lr")
    assert rows["lr-a"][lr] == "0.01" and rows["lr-b"][lr] == "0.02"
    assert header[:4] == ["run", "method", "status", "seed"] and "output_dir" not in header
    for name in ("lr-a", "lr-b"):
        row = dict(zip(header, rows[name]))
        assert row["method"] == "baseline" and row["status"] == "done" and row["seed"] == "0"
        assert row["iters"] == "2" and row["time"].endswith("s")
        assert float(row["grid r1"]) == pytest.approx(
            100 * _rank1(two_runs / name, "synth-grid"), abs=0.05
        )
    assert runs_table(two_runs).keys == ["train.lr"]


def test_runs_csv_has_the_same_rows(two_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", str(two_runs)]) == 0
    text_rows = _text_rows(capsys.readouterr().out)
    assert main(["runs", str(two_runs), "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["run"] for r in rows] == [k for k in text_rows if k != "run"]
    assert [r["train.lr"] for r in rows] == ["0.01", "0.02"]
    for r in rows:
        expected = 100 * _rank1(two_runs / r["run"], "synth-viper")
        assert float(r["synth-viper rank1 (%)"]) == pytest.approx(expected, abs=0.005)
        assert r["iterations"] == "2" and float(r["train_seconds"]) >= 0
        assert r["status"] == "done" and r["method"] == "baseline"


def test_unfinished_and_unreadable_runs_are_listed(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that stopped before its first checkpoint, and folders whose config is not YAML or
    holds an unknown key, each get a row; a config.yaml with no run beside it gets none."""
    root = tmp_path / "runs"
    shutil.copytree(two_runs / "lr-a", root / "done")
    for name, text in (
        ("crashed", (two_runs / "lr-b" / "config.yaml").read_text()),
        ("broken", "train: [oops\n"),
        ("unknown", "train:\n  lrr: 0.1\n"),
    ):
        (root / name).mkdir()
        (root / name / "config.yaml").write_text(text)
        (root / name / "train.log").write_text("")
    (root / "notes").mkdir()
    (root / "notes" / "config.yaml").write_text("train:\n  lr: 0.5\n")

    assert main(["runs", str(root)]) == 0
    out = capsys.readouterr().out
    status = {r.name: r.status for r in runs_table(root).runs}
    assert status == {
        "broken": "unreadable config",
        "crashed": "no results (unfinished)",
        "done": "done",
        "unknown": "unreadable config",
    }
    assert f"{root / 'broken' / 'config.yaml'}: not valid YAML" in out
    assert f"{root / 'unknown' / 'config.yaml'}" in out and "train.lrr" in out
    assert "notes" not in out
    assert main(["runs", str(root), "--csv"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [r["run"] for r in rows] == ["broken", "crashed", "done", "unknown"]
    assert rows[1]["train.lr"] == "0.02" and rows[1]["average rank1 (%)"] == ""
    assert "broken" in captured.err and "train.lrr" in captured.err


def test_stage1_folders_are_not_runs(episodic_run: Path) -> None:
    assert [r.name for r in runs_table(episodic_run.parent).runs] == [episodic_run.name]
    (only,) = runs_table(episodic_run).runs
    assert only.name == "." and only.method == "episodic" and only.status == "done"


def test_a_folder_without_runs_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", str(tmp_path)]) == 1
    assert f"no run folders under {tmp_path}" in capsys.readouterr().err
    assert main(["runs", str(tmp_path / "missing")]) == 1
    assert "no such folder" in capsys.readouterr().err


def test_differing_keys_leave_out_noise_and_keys_of_one_method() -> None:
    a = {"train.lr": 0.1, "data.sources": ["x"], "method.name": "m", "output_dir": "p"}
    b = {"train.lr": 0.2, "data.sources": ["x"], "method.name": "n", "output_dir": "q"}
    c = {**b, "method.only_n": 3, "train.log_every": 5}
    runs = [RunInfo("a", "done", a), RunInfo("b", "done", b), RunInfo("c", "done", c)]
    assert differing_keys(runs) == ["train.lr"]
    assert differing_keys([*runs, RunInfo("d", "done", {**c, "method.only_n": 4})]) == [
        "method.only_n",
        "train.lr",
    ]


def test_cell_formats() -> None:
    assert [duration(s) for s in (42.4, 185, 7620)] == ["42s", "3m05s", "2h07m"]
    assert [config_value(v) for v in (True, None, [7, 9], 0.01)] == [
        "true",
        "null",
        "[7, 9]",
        "0.01",
    ]
