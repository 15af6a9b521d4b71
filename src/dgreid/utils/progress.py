"""Progress bars that suit where they are written: tqdm on a terminal, plain lines elsewhere.

A tqdm bar redraws itself with carriage returns several times a second; in a log file (a pipe,
``> log 2>&1``, CI, nohup) that is thousands of overwritten frames on one line. Off a terminal
:func:`progress_bar` prints one plain line instead, each time another 10% is done or
``DGREID_PROGRESS_EVERY`` seconds (default 30) have passed since the last line, whichever
comes first, and one at the end::

    train episodic: 120/300 it (40%), loss=1.234, ce=0.987, 3.21 it/s, 0:00:56 left

A transient bar (``leave=False``: tqdm erases it when done, e.g. feature extraction) prints only
the timed lines, and a last one when it printed any: a short stage leaves no trace in the log.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Protocol

#: Seconds between plain progress lines when ``DGREID_PROGRESS_EVERY`` is unset or invalid.
DEFAULT_EVERY = 30.0
ENV_EVERY = "DGREID_PROGRESS_EVERY"


class Progress(Protocol):
    """The part of tqdm's interface the toolkit uses."""

    def update(self, n: int = 1) -> object: ...

    def set_postfix(self, ordered_dict: Mapping[str, object]) -> object: ...

    def close(self) -> None: ...

    def __enter__(self) -> Progress: ...

    def __exit__(self, *exc: object) -> object: ...


def progress_bar(
    *,
    total: int | None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    disable: bool = False,
    leave: bool = True,
    dynamic_ncols: bool = False,
    file: IO[str] | None = None,
) -> Progress:
    """A tqdm bar when ``file`` (default stderr) is a terminal, else a :class:`PlainProgress`."""
    stream = file if file is not None else sys.stderr
    if _is_terminal(stream):
        from tqdm import tqdm

        return tqdm(
            total=total, desc=desc, unit=unit, initial=initial, disable=disable, leave=leave,
            dynamic_ncols=dynamic_ncols, file=stream,
        )  # fmt: skip
    return PlainProgress(
        total=total, desc=desc, unit=unit, initial=initial, disable=disable, leave=leave,
        file=stream, every=every_seconds(),
    )  # fmt: skip


def every_seconds() -> float:
    """``DGREID_PROGRESS_EVERY`` as seconds (>= 0), or :data:`DEFAULT_EVERY`."""
    try:
        value = float(os.environ.get(ENV_EVERY, ""))
    except ValueError:
        return DEFAULT_EVERY
    return value if value >= 0 else DEFAULT_EVERY


class PlainProgress:
    """Plain progress lines, one per 10% done or per ``every`` seconds, and one at the end.

    ``leave=False`` (a transient bar): only the timed lines, and the last one if any was written.
    """

    def __init__(
        self,
        *,
        total: int | None,
        desc: str = "",
        unit: str = "it",
        initial: int = 0,
        disable: bool = False,
        leave: bool = True,
        file: IO[str] | None = None,
        every: float = DEFAULT_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n, self.initial, self.disable, self.leave = initial, initial, disable, leave
        self.file = file if file is not None else sys.stderr
        self.every, self.clock = every, clock
        self.postfix = ""
        self.t_start = self.t_line = clock()
        self.n_line = initial  # n at the last line written
        self.written = False
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.disable:
            return
        now = self.clock()
        tenth = self.leave and self._tenth(self.n) > self._tenth(self.n_line)
        if tenth or now - self.t_line >= self.every:
            self._write(now)

    def set_postfix(self, ordered_dict: Mapping[str, object]) -> None:
        self.postfix = ", ".join(f"{k}={_fmt(v)}" for k, v in ordered_dict.items())

    def close(self) -> None:
        last = self.n != self.n_line and (self.leave or self.written)
        if last and not self.closed and not self.disable:
            self._write(self.clock())
        self.closed = True

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self, now: float) -> str:
        """``desc: n/total unit (pct), postfix, rate unit/s, time left`` (or elapsed at the end)."""
        elapsed = now - self.t_start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        head = f"{self.desc}: " if self.desc else ""
        if self.total:
            head += f"{self.n}/{self.total} {self.unit} ({100 * self.n // self.total}%)"
        else:
            head += f"{self.n} {self.unit}"
        parts = [head]
        if self.postfix:
            parts.append(self.postfix)
        parts.append(f"{rate:.0f} {self.unit}/s" if rate >= 100 else f"{rate:.3g} {self.unit}/s")
        if self.total and self.n < self.total:
            if rate > 0:
                parts.append(f"{_clock(int((self.total - self.n) / rate))} left")
        else:
            parts.append(f"{_clock(int(elapsed))} elapsed")
        return ", ".join(parts)

    def _tenth(self, n: int) -> int:
        return 10 * n // self.total if self.total else 0

    def _write(self, now: float) -> None:
        self.file.write(self.line(now) + "\n")
        self.file.flush()
        self.t_line, self.n_line, self.written = now, self.n, True


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _clock(seconds: int) -> str:
    """``h:mm:ss``."""
    h, rest = divmod(max(seconds, 0), 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


__all__ = ["DEFAULT_EVERY", "ENV_EVERY", "PlainProgress", "Progress", "progress_bar"]
