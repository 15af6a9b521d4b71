"""Graceful stop on SIGINT / SIGTERM: finish the step, save, then tell the user how to resume.

The handler only sets a flag; the trainer checks it after each step. A second signal while the
checkpoint is being written falls back to Python's default behaviour (an immediate
``KeyboardInterrupt``); the checkpoint file is written atomically, so the last complete one stays
loadable whatever happens.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

from dgreid.errors import TrainingError

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(TrainingError):
    """Training stopped on a signal after saving a checkpoint; the message says how to resume."""


class StopRequest:
    """Context manager: while active, SIGINT/SIGTERM set ``requested`` instead of killing us."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # second signal: stop now
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()
