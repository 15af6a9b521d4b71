"""VIPeR: ``cam_a/`` and ``cam_b/``, one image per person each, ``NNN_AAA.bmp`` (NNN pairs the
two cameras, AAA is the viewing angle). camid: cam_a -> 0, cam_b -> 1; pid = NNN.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from dgreid.data.datasets.base import (
    DatasetLayoutError,
    DatasetLoader,
    Layout,
    first_few,
    parse_names,
    require_images,
)
from dgreid.structures import ImageRecord, ReIDDataset

NAME = re.compile(r"(\d+)_.+")
EXPECTED = "NNN_AAA.bmp (pair number, then angle)"


class VIPeR(DatasetLoader):
    """VIPeR (Gray et al., PETS 2007): 632 ids, 1,264 images, 2 cameras."""

    protocol = "viper"
    layout = Layout(candidates=("viper/VIPeR", "VIPeR", "viper"), markers=("cam_a", "cam_b"))
    describe = "cam_a/ and cam_b/ with NNN_AAA.bmp images"

    def read(self, folder: Path) -> ReIDDataset:
        cams: list[list[ImageRecord]] = []
        for camid, sub in enumerate(("cam_a", "cam_b")):
            files = require_images(self.subdir(folder, sub), EXPECTED)
            cams.append(
                [
                    ImageRecord(str(p), int(m.group(1)), camid)
                    for p, m in parse_names(files, NAME, EXPECTED)
                ]
            )
        self._check_pairs(folder, cams[0], cams[1])
        return self.make(folder, cams[0] + cams[1], query=cams[0], gallery=cams[1])

    def _check_pairs(self, folder: Path, a: list[ImageRecord], b: list[ImageRecord]) -> None:
        """Protocol invariant: exactly one image per pair number in each camera."""
        problems = []
        if len(a) != len(b):
            problems.append(f"cam_a has {len(a)} images but cam_b has {len(b)}")
        for sub, recs in (("cam_a", a), ("cam_b", b)):
            dup = sorted(p for p, n in Counter(r.pid for r in recs).items() if n > 1)
            if dup:
                problems.append(f"pair numbers repeated in {sub}: {first_few(dup)}")
        pa, pb = {r.pid for r in a}, {r.pid for r in b}
        if pa - pb:
            problems.append(f"only in cam_a: {first_few(sorted(pa - pb))}")
        if pb - pa:
            problems.append(f"only in cam_b: {first_few(sorted(pb - pa))}")
        if problems:
            raise DatasetLayoutError(
                f"dataset {self.name!r} ({folder}): VIPeR pairs one cam_a image with one cam_b "
                f"image per person; {'; '.join(problems)}"
            )
