"""Atomic writes: a file is either the old complete version or the new complete version.

Every result, split file and checkpoint goes through here, so a crash, a SIGKILL or a full disk
never leaves a half-written file behind. A file written here gets the mode a plain ``open`` would
give it (0666 less the umask), not the 0600 of a temporary file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from dgreid.errors import DgreidError


class WriteError(OSError, DgreidError):
    """Writing a file failed; the previous version of the file is untouched. Also a
    DgreidError, so the CLI prints the path and the reason instead of a traceback."""


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` via a temporary file in the same folder, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _remove_quietly(tmp)
        raise WriteError(e.errno, f"could not write {path}: {e.strerror or e}") from e
    except BaseException:
        _remove_quietly(tmp)
        raise


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, so no other thread ever sees it
    changed; else set and restored at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_quietly(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))  # type: ignore[arg-type,return-value]


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_torch_save(path: str | Path, obj: Any) -> None:
    import torch

    atomic_write(path, lambda f: torch.save(obj, f))
