"""bench/gpu_check.py: its CPU dry run trains and evaluates through the real commands and prints
its table, so the GPU check cannot rot on a machine without a GPU."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_table_compares_each_run_with_its_methods_fp32_run() -> None:
    gc = _load()
    rows = [
        gc.Row("baseline", "fp32", 100.0, None, 3.0, 2.0, 40.0),
        gc.Row("baseline", "bf16", 180.0, None, None, 2.2, 37.0),  # loss 10 % off, rank-1 3
        gc.Row("baseline", "fp16", 190.0, None, None, 2.5, 40.0),  # loss 25 % off
        gc.Row("episodic", "fp32", 50.0, None, 4.0, 1.0, 20.0),
        gc.Row("episodic", "bf16", 90.0, None, None, 1.0, 30.0),  # rank-1 10 points off
        gc.Row("episodic", "torchrun x1", error="log"),
    ]
    lines = {tuple(c.strip() for c in ln.split("|")[1:3]): ln for ln in gc.table(rows).splitlines()}
    assert lines[("baseline", "fp32")].rstrip().endswith("(reference) |")
    assert lines[("baseline", "bf16")].rstrip().endswith("| yes |")
    assert "loss off, rank-1 ok" in lines[("baseline", "fp16")]
    assert "loss ok, rank-1 off" in lines[("episodic", "bf16")]
    assert lines[("episodic", "torchrun x1")].rstrip().endswith("FAILED |")


def test_without_cuda_it_refuses_and_points_at_the_dry_run(capsys: pytest.CaptureFixture) -> None:
    gc = _load()
    import torch

    if torch.cuda.is_available():  # pragma: no cover - the CI machine has no GPU
        pytest.skip("a CUDA device is present: the full check would run")
    assert gc.main([]) == 2
    assert "--cpu-dry-run" in capsys.readouterr().out


def test_cpu_dry_run_trains_evaluates_and_prints_every_row(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    gc = _load()
    rc = gc.main(["--cpu-dry-run", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 8 and cells[0] in ("baseline", "episodic"):
            rows[(cells[0], cells[1])] = cells
    assert set(rows) == {
        ("baseline", "fp32"), ("baseline", "bf16"), ("baseline", "torchrun x1"),
        ("episodic", "fp32"),
    }  # fmt: skip
    for (method, setting), cells in rows.items():
        assert float(cells[2]) > 0, (method, setting)  # images/s
        assert 0.0 <= float(cells[6]) <= 100.0  # rank-1 %
        assert re.fullmatch(r"[0-9.]+", cells[5])  # a finite last loss
        assert (cells[4] != "-") == (setting == "fp32")  # evaluation timed on the fp32 runs
    # one process under torchrun trains what the plain run trains
    assert rows[("baseline", "torchrun x1")][5] == rows[("baseline", "fp32")][5]
    assert (tmp_path / "runs" / "episodic-fp32" / "model.pt").is_file()
