"""Progress output: tqdm bars on a terminal, plain lines (no carriage returns) elsewhere."""

from __future__ import annotations

import io

import pytest
from tqdm import tqdm

from dgreid.utils.progress import DEFAULT_EVERY, PlainProgress, every_seconds, progress_bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_every_10_percent_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DGREID_PROGRESS_EVERY", raising=False)
    out = io.StringIO()
    with progress_bar(total=100, desc="train baseline", file=out) as bar:
        assert isinstance(bar, PlainProgress)
        for _ in range(100):
            bar.update(1)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 10  # 10%, 20%, ..., 100%; close adds nothing new
    assert lines[0].startswith("train baseline: 10/100 it (10%), ")
    assert lines[-1].startswith("train baseline: 100/100 it (100%), ") and "elapsed" in lines[-1]


def test_every_n_seconds_with_postfix_rate_and_time_left() -> None:
    out, clock = io.StringIO(), FakeClock()
    bar = PlainProgress(total=1000, desc="stage1 synth-market", file=out, every=30, clock=clock)
    bar.set_postfix({"loss": "1.234", "ce": 0.98765})
    clock.now += 10
    bar.update(20)  # 2%, 10 s: nothing yet
    assert out.getvalue() == ""
    clock.now += 20
    bar.update(40)  # 6%, 30 s since the start: a line
    assert out.getvalue() == (
        "stage1 synth-market: 60/1000 it (6%), loss=1.234, ce=0.9877, 2 it/s, 0:07:50 left\n"
    )
    clock.now += 5
    bar.update(1)
    bar.close()  # a last line with where it stopped
    bar.close()  # once
    assert out.getvalue().splitlines()[-1].startswith("stage1 synth-market: 61/1000 it (6%)")
    assert len(out.getvalue().splitlines()) == 2


def test_every_zero_seconds_writes_a_line_per_update_and_resume_counts_from_initial() -> None:
    out, clock = io.StringIO(), FakeClock()
    bar = PlainProgress(total=300, desc="train", initial=150, every=0, file=out, clock=clock)
    clock.now += 2
    bar.update(1)
    clock.now += 2
    bar.update(1)
    assert out.getvalue().splitlines() == [
        "train: 151/300 it (50%), 0.5 it/s, 0:04:58 left",
        "train: 152/300 it (50%), 0.5 it/s, 0:04:56 left",
    ]


def test_unknown_total_and_disabled() -> None:
    out, clock = io.StringIO(), FakeClock()
    bar = PlainProgress(total=None, unit="img", every=0, file=out, clock=clock)
    clock.now += 4
    bar.update(8)
    assert out.getvalue() == "8 img, 2 img/s, 0:00:04 elapsed\n"
    quiet = io.StringIO()
    with progress_bar(total=10, disable=True, file=quiet) as bar2:
        bar2.update(10)
    assert quiet.getvalue() == ""


def test_on_a_terminal_it_is_tqdm() -> None:
    out = TtyStream()
    with progress_bar(total=5, desc="synth", unit="img", file=out) as bar:
        assert isinstance(bar, tqdm)
        for _ in range(5):
            bar.update(1)
        bar.set_postfix({"loss": "0.5"})
    assert "\r" in out.getvalue() and "synth" in out.getvalue()


def test_env_sets_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DGREID_PROGRESS_EVERY", "5")
    assert every_seconds() == 5.0
    for bad in ("soon", "-1"):
        monkeypatch.setenv("DGREID_PROGRESS_EVERY", bad)
        assert every_seconds() == DEFAULT_EVERY
    monkeypatch.setenv("DGREID_PROGRESS_EVERY", "0")
    out = io.StringIO()
    with progress_bar(total=1000, file=out) as bar:
        bar.update(1)
        bar.update(1)
    assert len(out.getvalue().splitlines()) == 2


def test_a_transient_bar_prints_only_when_slow() -> None:
    out, clock = io.StringIO(), FakeClock()
    with PlainProgress(total=4, desc="extract", leave=False, file=out, clock=clock) as fast:
        for _ in range(4):
            fast.update(1)  # 25% steps, but a transient bar has no 10% lines
    assert out.getvalue() == ""
    slow = PlainProgress(total=4, desc="extract", leave=False, every=30, file=out, clock=clock)
    clock.now += 31
    slow.update(1)
    slow.update(3)
    slow.close()
    assert [line.split(",")[0] for line in out.getvalue().splitlines()] == [
        "extract: 1/4 it (25%)",
        "extract: 4/4 it (100%)",
    ]


def test_fast_rates_are_whole_numbers() -> None:
    out, clock = io.StringIO(), FakeClock()
    bar = PlainProgress(total=None, unit="img", every=0, file=out, clock=clock)
    clock.now += 0.5
    bar.update(1234)
    assert out.getvalue() == "1234 img, 2468 img/s, 0:00:00 elapsed\n"
