"""A practitioner's own camera network: a folder with a ``manifest.csv`` or Market-style names.

``manifest.csv`` has a header ``path,pid,camid`` and optionally ``split``
(``train``/``query``/``gallery``); ``path`` is relative to the folder (or absolute), ``pid`` an
integer >= 0 (``-1`` marks a gallery distractor), ``camid`` an integer >= 0. Without a manifest,
every image under the folder (recursively) must be named ``PPPP_cC*.jpg`` (camera C >= 1,
camid = C-1; pid ``-1`` = junk, skipped); images under a top folder named like a Market split
(``bounding_box_train``/``train``, ``query``, ``bounding_box_test``/``gallery``) fill that split.

``custom`` reads ``ROOT/custom`` or ``ROOT``; ``custom:NAME`` (:class:`NamedCustom`) reads
``ROOT/NAME``, so several networks can be sources and targets of one run.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from dgreid.data.datasets.base import (
    IMAGE_EXTS,
    DatasetLayoutError,
    DatasetLoader,
    DatasetNotFoundError,
    Layout,
    first_few,
    parse_names,
    resolve_ci,
)
from dgreid.structures import DISTRACTOR_PID, ImageRecord, ReIDDataset

MANIFEST = "manifest.csv"
NAME = re.compile(r"(-1|\d+)_c([1-9]\d*).*\.\w+")
EXPECTED = "PPPP_cC*.jpg (pid, then _c and the camera number from 1), or a manifest.csv"
SPLITS = {
    "bounding_box_train": "train",
    "train": "train",
    "query": "query",
    "bounding_box_test": "gallery",
    "gallery": "gallery",
}


class Custom(DatasetLoader):
    """Any folder: ``ROOT/custom`` or ``ROOT`` itself, read by manifest or by file names."""

    layout = Layout(candidates=("custom", "."), markers=())
    describe = "manifest.csv (path,pid,camid[,split]) or PPPP_cC*.jpg images"

    def read(self, folder: Path) -> ReIDDataset:
        manifest = resolve_ci(folder, MANIFEST)
        if manifest is not None and manifest.is_file():
            split = self._read_manifest(folder, manifest)
        else:
            split = self._read_names(folder)
        records = [r for recs in split.values() for r in recs]
        return self.make(
            folder,
            records,
            split.get("train", []),
            split.get("query", []),
            split.get("gallery", []),
        )

    def _read_manifest(self, folder: Path, manifest: Path) -> dict[str, list[ImageRecord]]:
        split: dict[str, list[ImageRecord]] = {}
        errors: list[str] = []
        with manifest.open(newline="") as f:
            reader = csv.DictReader(f)
            cols = [c.strip() for c in reader.fieldnames or []]
            if not {"path", "pid", "camid"} <= set(cols):
                raise DatasetLayoutError(
                    f"{manifest}: header is {','.join(cols) or '(empty)'}; expected "
                    "path,pid,camid (and optionally split)"
                )
            reader.fieldnames = cols
            for no, row in enumerate(reader, start=2):
                try:
                    rec, part = self._row(folder, row)
                except ValueError as e:
                    errors.append(f"line {no}: {e}")
                    continue
                split.setdefault(part, []).append(rec)
        if errors:
            raise DatasetLayoutError(
                f"{manifest}: {len(errors)} bad row(s): {first_few(errors)}; expected "
                "path,pid,camid[,split] with an existing image, pid >= -1, camid >= 0"
            )
        return split

    @staticmethod
    def _row(folder: Path, row: dict[str, str]) -> tuple[ImageRecord, str]:
        """One manifest row as a record and its split; ValueError says what is wrong."""
        path = (row.get("path") or "").strip()
        if not path:
            raise ValueError("empty path")
        try:
            pid, camid = int(row["pid"]), int(row["camid"])
        except (TypeError, ValueError):
            raise ValueError(
                f"pid {row.get('pid')!r} / camid {row.get('camid')!r} not integers"
            ) from None
        if pid < DISTRACTOR_PID or camid < 0:
            raise ValueError(f"pid {pid} / camid {camid} out of range")
        part = (row.get("split") or "").strip() or "all"
        if part not in ("all", "train", "query", "gallery"):
            raise ValueError(f"split {part!r} is not train, query or gallery")
        img = Path(path) if Path(path).is_absolute() else folder / path
        if not img.is_file():
            raise ValueError(f"{img} does not exist")
        return ImageRecord(str(img), pid, camid), part

    def _read_names(self, folder: Path) -> dict[str, list[ImageRecord]]:
        files = sorted(
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")
        )
        if not files:
            raise DatasetLayoutError(
                f"dataset {self.name!r}: {folder} has no {MANIFEST} and no images; expected "
                f"{self.describe}"
            )
        split: dict[str, list[ImageRecord]] = {}
        for path, m in parse_names(files, NAME, EXPECTED):
            pid = int(m.group(1))
            if pid == -1:
                continue
            top = path.relative_to(folder).parts[0].lower()
            part = SPLITS.get(top, "all")
            split.setdefault(part, []).append(ImageRecord(str(path), pid, int(m.group(2)) - 1))
        return split


class NamedCustom(Custom):
    """``custom:NAME``: the folder ``ROOT/NAME`` (any case), read by the same rules as
    ``custom``; so one data root can hold several camera networks of one's own.

    ``others`` are the folder names (lower case) that other loaders read; a missing folder's
    error lists the remaining subfolders of the root, the ones that could be ``custom:NAME``.
    """

    def __init__(
        self, root: str | Path, name: str, folder: str, others: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(root, name, Layout(candidates=(folder,), markers=()))
        self.others = others

    def locate(self) -> Path:
        try:
            return super().locate()
        except DatasetNotFoundError as e:
            found = custom_folders(self.root, self.others)
            listing = ", ".join(found) if found else "none"
            raise DatasetNotFoundError(
                f"{e}\ncustom dataset folders under {self.root}: {listing}"
            ) from None


def custom_folders(root: Path, others: frozenset[str]) -> list[str]:
    """Subfolders of ``root`` (sorted, not hidden) whose lower-case name is not in ``others``."""
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name.lower() not in others
    )
