"""User-facing errors. Each names the file or key at fault and what was expected; the CLI prints
the message (no stack trace) and exits non-zero."""

from __future__ import annotations


class DgreidError(Exception):
    """Base of every error the toolkit raises on bad input."""


class DatasetError(DgreidError):
    """A dataset folder is missing, malformed, or holds unreadable images."""


class CheckpointError(DgreidError):
    """A checkpoint is unreadable, truncated, unsafe, or for another model."""


class TrainingError(DgreidError):
    """Training cannot start or cannot go on (too few domains, NaN loss, ...)."""


class UnknownNameError(KeyError, DgreidError):
    """A registry has no entry of this name (a KeyError, so ``except KeyError`` still works);
    the message lists the valid names. ``str()`` is the message, without KeyError's quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
