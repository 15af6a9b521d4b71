"""``dgreid demo --quick`` end to end (issue 7), through the CLI, on a benchmark shrunk further
than ``--quick``'s (the tiny domain specs and run overrides of conftest.py), so it takes seconds.

Checks the printed table (three methods, one best mark), the self-contained report (table, CMC
curves and ranked lists as data URIs), the results files, and that a re-run reuses every
finished stage instead of training again.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import pytest

from conftest import TINY_OVERRIDES, TINY_SCALE, TINY_SIZE, tiny_domains
from dgreid.cli.main import main
from dgreid.experiments import demo

METHODS = ("baseline", "dualnorm", "episodic")
NAMES = ("Baseline", "DualNorm", "Ours")


def _trained_files(runs: Path) -> dict[Path, int]:
    """Every file training writes (models, checkpoints, stage-1 extractors) -> its mtime."""
    files = [*runs.rglob("model.pt"), *runs.rglob("last.pt"), *runs.rglob("extractor.pt")]
    return {p: p.stat().st_mtime_ns for p in files}


@pytest.fixture
def tiny_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``dgreid demo --quick`` build its settings with the tiny benchmark and budget."""
    small = functools.partial(
        demo.DemoSettings,
        domains=tiny_domains(),
        scale=TINY_SCALE,
        size=TINY_SIZE,
        overrides=TINY_OVERRIDES,
    )
    monkeypatch.setattr(demo, "DemoSettings", small)


def test_demo_quick_table_report_and_reuse(
    tiny_demo: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out

    # the table: one row per method, exactly one best mark, and the report's path
    rows = [line for line in printed.splitlines() if line[1:].startswith(NAMES)]
    assert sorted(r[1:].split()[0] for r in rows) == sorted(NAMES)
    assert [r[0] for r in rows].count("*") == 1 and "* best average rank-1" in printed
    report = out / "quick" / "report.html"  # in the quick demo's own folder
    assert f"report: {report.resolve()}" in printed
    assert not (out / "report.html").exists()  # the full demo's place

    # the report: table with every method and target, CMC curves, ranked lists, all embedded
    page = report.read_text()
    assert "<table>" in page and all(f"<td>{n}</td>" in page for n in NAMES)
    for target in ("grid", "ilids", "prid", "viper"):
        assert f'alt="CMC synth-{target}"' in page
        assert f"<h3>synth-{target}</h3>" in page
    curves = re.findall(r'<img alt="CMC [^"]+" src="data:image/png;base64,', page)
    assert len(curves) == 4
    assert page.count('class="probe"') >= 4 and page.count('class="hit"') >= 1
    ranked_by = re.findall(r'<div class="q"><div class="who">([^<]+)</div>', page)
    assert sorted(set(ranked_by)) == sorted(NAMES)  # every method's ranked lists
    assert ranked_by.count(NAMES[0]) == len(ranked_by) // len(NAMES)
    assert 'src="data:image/png;base64,' in page and 'src="/' not in page  # self-contained
    assert 'class="best"' in page

    # results: per-run outputs, shared splits, the comparison's tables and plots
    runs = out / "quick"
    for m in METHODS:
        run = runs / f"{m}-seed0"
        for name in ("model.pt", "results.json", "config.yaml", "metrics.jsonl"):
            assert (run / name).is_file(), f"{m}: {name}"
    for name in ("splits.json", "tables.md", "tables.json", "demo.json"):
        assert (runs / name).is_file(), name
    assert len(list(runs.glob("cmc_*.png"))) == 4
    assert "Table IV" in (runs / "tables.md").read_text()

    # a re-run with the same folder reuses everything: nothing trained or rewritten
    trained = _trained_files(runs)
    assert len(trained) >= 3 + 3 + 4  # models, checkpoints, the episodic stage-1 extractors
    report.unlink()
    caplog.set_level(logging.INFO, logger="dgreid")
    caplog.clear()
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    assert _trained_files(runs) == trained
    finished = [r for r in caplog.records if "already finished" in r.getMessage()]
    assert len(finished) == len(METHODS)
    assert not [r for r in caplog.records if r.getMessage().startswith(("train ", "stage1 "))]
    assert report.is_file() and "* best average rank-1" in capsys.readouterr().out
