"""What every dataset loader shares: finding the dataset folder, listing and parsing image names,
and errors that say exactly what was looked for and what was expected.

A loader is a class that stores ``root`` when constructed and touches the disk only in
:meth:`DatasetLoader.load`. Images are never decoded here (``dgreid data check`` does that).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

from dgreid.errors import DatasetError
from dgreid.structures import ImageRecord, ReIDDataset

#: File name endings read as images (compared in lower case).
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")

#: How many offending files an error message lists.
SHOW_FIRST = 5

T = TypeVar("T")


class DatasetNotFoundError(DatasetError):
    """No candidate dataset folder exists under the root."""


class DatasetLayoutError(DatasetError):
    """A dataset folder exists but its contents are not what its loader reads."""


def resolve_ci(base: Path, rel: str) -> Path | None:
    """``base/rel`` if it exists, matching each path component case-insensitively; else None."""
    cur = base
    for part in Path(rel).parts:
        exact = cur / part
        if exact.exists():
            cur = exact
            continue
        if not cur.is_dir():
            return None
        low = part.lower()
        matches = sorted(p for p in cur.iterdir() if p.name.lower() == low)
        if not matches:
            return None
        cur = matches[0]
    return cur


def has_marker(folder: Path, marker: str) -> bool:
    """Whether ``folder`` holds ``marker`` (alternatives separated by ``|``), any case."""
    return any(resolve_ci(folder, alt) is not None for alt in marker.split("|"))


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (other files are ignored)."""
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")
    )


def require_images(folder: Path, what: str) -> list[Path]:
    """:func:`list_images` that refuses a folder with no images, saying what was expected."""
    files = list_images(folder)
    if not files:
        raise DatasetLayoutError(
            f"{folder}: no images found (expected {what}; image endings read: "
            f"{', '.join(IMAGE_EXTS)})"
        )
    return files


def first_few(items: Iterable[object], n: int = SHOW_FIRST) -> str:
    """Comma-separated first ``n`` items, with the count of the rest."""
    items = list(items)
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" (and {len(items) - n} more)" if len(items) > n else "")


def parse_names(
    files: Sequence[Path], pattern: re.Pattern[str], expected: str
) -> list[tuple[Path, re.Match[str]]]:
    """Match every file name against ``pattern``; refuse the folder listing the first misfits."""
    good: list[tuple[Path, re.Match[str]]] = []
    bad: list[str] = []
    for f in files:
        m = pattern.fullmatch(f.name)
        if m is None:
            bad.append(f.name if f.parent == files[0].parent else str(f))
        else:
            good.append((f, m))
    if bad:
        raise DatasetLayoutError(
            f"{files[0].parent}: {len(bad)} file name(s) not of the form {expected}: "
            f"{first_few(bad)}"
        )
    return good


def relabel(keys: Iterable[T]) -> dict[T, int]:
    """Map each distinct key (sorted) to 0..N-1: for datasets whose ids are not plain numbers."""
    return {k: i for i, k in enumerate(sorted(set(keys)))}  # type: ignore[type-var]


@dataclass(frozen=True)
class Layout:
    """Where a loader looks: candidate folders under the root (first match wins) and the markers
    (sub-paths) that a dataset folder must contain; a marker ``"a|b"`` is met by either path."""

    candidates: tuple[str, ...]
    markers: tuple[str, ...]


class DatasetLoader:
    """Base of every loader. Subclasses set ``layout`` and ``protocol`` and implement
    :meth:`read`; construction only stores its arguments.

    ``name`` is the registry name (it becomes ``ReIDDataset.name``); ``layout`` may be replaced
    per instance, which is how a ``synth-*`` twin reads its own folder with the same code.
    """

    layout: ClassVar[Layout]
    protocol: ClassVar[str] = "standard"
    #: what the dataset folder looks like, for error messages.
    describe: ClassVar[str] = ""
    #: the loader this one is a variant of (same folder, other images), e.g. cuhk03-detected.
    variant_of: ClassVar[str] = ""

    def __init__(self, root: str | Path, name: str, layout: Layout | None = None) -> None:
        self.root = Path(root).expanduser()
        self.name = name
        self.instance_layout = layout or type(self).layout

    def tried_paths(self) -> list[Path]:
        """The exact dataset folder paths :meth:`locate` tries, in order."""
        return [self.root / c for c in self.instance_layout.candidates]

    def locate(self) -> Path:
        """The first candidate folder that holds the markers; precise errors otherwise."""
        existing: list[Path] = []
        for cand in self.instance_layout.candidates:
            folder = resolve_ci(self.root, cand)
            if folder is None or not folder.is_dir():
                continue
            existing.append(folder)
            if all(has_marker(folder, m) for m in self.instance_layout.markers):
                return folder
        if not existing:
            tried = "\n  ".join(str(p) for p in self.tried_paths())
            raise DatasetNotFoundError(
                f"dataset {self.name!r} not found under {self.root}; looked for (any case):\n  "
                f"{tried}"
            )
        folder = existing[0]
        missing = [m for m in self.instance_layout.markers if not has_marker(folder, m)]
        lacks = ", ".join(" or ".join(repr(a) for a in m.split("|")) for m in missing)
        raise DatasetLayoutError(
            f"dataset {self.name!r}: {folder} lacks {lacks}; "
            f"expected {self.describe or ', '.join(self.instance_layout.markers)}"
        )

    def load(self) -> ReIDDataset:
        """Find the dataset folder and list its images (no decoding)."""
        folder = self.locate()
        ds = self.read(folder)
        if not ds.records:
            raise DatasetLayoutError(f"dataset {self.name!r}: {folder} holds no usable images")
        return ds

    def read(self, folder: Path) -> ReIDDataset:
        """Build the dataset from its located folder; subclasses implement this."""
        raise NotImplementedError

    def subdir(self, folder: Path, rel: str) -> Path:
        """A marker sub-folder (case-insensitive); :meth:`locate` has checked it exists."""
        found = resolve_ci(folder, rel)
        if found is None or not found.is_dir():
            raise DatasetLayoutError(f"dataset {self.name!r}: expected folder {folder / rel}")
        return found

    def make(
        self,
        folder: Path,
        records: list[ImageRecord],
        train: list[ImageRecord] | None = None,
        query: list[ImageRecord] | None = None,
        gallery: list[ImageRecord] | None = None,
    ) -> ReIDDataset:
        """Wrap records into a :class:`ReIDDataset` carrying this loader's name and protocol."""
        return ReIDDataset(
            name=self.name,
            root=folder,
            records=records,
            train=train or [],
            query=query or [],
            gallery=gallery or [],
            protocol=self.protocol,
        )


#: A registry entry: called with the data root, returns a loader (no disk access).
LoaderFactory = Callable[[Path], DatasetLoader]
