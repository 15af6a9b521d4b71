"""GRID (underground_reid): ``probe/`` (250 images, one per paired id) and ``gallery/``
(the 250 partners plus 775 distractors named ``0000_*``).

Names ``PPPP_C_....jpeg``. Per docs/layouts.md, probe folder -> camid 0 and gallery folder ->
camid 1 (the camera in the name is ignored); gallery pid ``0000`` becomes ``DISTRACTOR_PID``.
"""

from __future__ import annotations

import re
from pathlib import Path

from dgreid.data.datasets.base import (
    DatasetLayoutError,
    DatasetLoader,
    Layout,
    first_few,
    parse_names,
    require_images,
)
from dgreid.structures import DISTRACTOR_PID, ImageRecord, ReIDDataset

NAME = re.compile(r"(\d+)_(\d+)_.+")
EXPECTED = "PPPP_C_....jpeg (4-digit pid, 0000 = distractor, then the camera)"


class GRID(DatasetLoader):
    """QMUL GRID (Loy et al.): 250 paired ids + 775 distractors, 1,275 images."""

    protocol = "grid"
    layout = Layout(
        candidates=("grid/underground_reid", "underground_reid", "grid"),
        markers=("probe", "gallery"),
    )
    describe = "probe/ and gallery/ with PPPP_C_*.jpeg images"

    def read(self, folder: Path) -> ReIDDataset:
        probe = self._folder(folder, "probe", camid=0)
        gallery = self._folder(folder, "gallery", camid=1)
        zero = [Path(r.path).name for r in probe if r.pid == DISTRACTOR_PID]
        if zero:
            raise DatasetLayoutError(
                f"dataset {self.name!r}: probe images must have a pid > 0, "
                f"distractors (0000) belong in gallery/: {first_few(zero)}"
            )
        self._check_pairs(folder, probe, gallery)
        return self.make(folder, probe + gallery, query=probe, gallery=gallery)

    def _folder(self, folder: Path, sub: str, camid: int) -> list[ImageRecord]:
        files = require_images(self.subdir(folder, sub), EXPECTED)
        recs = []
        for path, m in parse_names(files, NAME, EXPECTED):
            pid = int(m.group(1))
            recs.append(ImageRecord(str(path), pid if pid != 0 else DISTRACTOR_PID, camid))
        return recs

    def _check_pairs(
        self, folder: Path, probe: list[ImageRecord], gallery: list[ImageRecord]
    ) -> None:
        """Protocol invariant: each probe id once in probe/ and with a partner in gallery/."""
        pids = [r.pid for r in probe]
        dup = sorted({p for p in pids if pids.count(p) > 1})
        gal = {r.pid for r in gallery if r.pid != DISTRACTOR_PID}
        lonely = sorted(set(pids) - gal)
        unpaired = sorted(gal - set(pids))
        problems = []
        if dup:
            problems.append(f"pids with more than one probe image: {first_few(dup)}")
        if lonely:
            problems.append(f"probe pids with no gallery image: {first_few(lonely)}")
        if unpaired:
            problems.append(f"gallery pids (not 0000) with no probe image: {first_few(unpaired)}")
        if problems:
            raise DatasetLayoutError(
                f"dataset {self.name!r} ({folder}): GRID pairs every probe id with exactly one "
                f"gallery id; {'; '.join(problems)}"
            )
