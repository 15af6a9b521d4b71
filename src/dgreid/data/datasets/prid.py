"""PRID 2011 single-shot: ``cam_a/`` (385 persons) and ``cam_b/`` (749), ``person_NNNN.png``.

Only persons 1..200 are the same people in both cameras; ``person_0201`` of cam_a and of cam_b
are different people. pids: ``NNNN`` for cam_a and for shared persons, ``CAM_B_OFFSET + NNNN``
for cam_b-only persons (so pids never collide). camid: cam_a -> 0, cam_b -> 1.
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
from dgreid.structures import ImageRecord, ReIDDataset

NAME = re.compile(r"person_(\d+)\.\w+")
EXPECTED = "person_NNNN.png"
#: persons 1..NUM_SHARED appear in both cameras (PRID 2011 readme).
NUM_SHARED = 200
CAM_B_OFFSET = 10000


class PRID(DatasetLoader):
    """PRID 2011 (Hirzer et al., SCIA 2011) single-shot: 934 ids, 1,134 images."""

    protocol = "prid"
    layout = Layout(
        candidates=(
            "prid2011/prid_2011/single_shot",
            "prid_2011/single_shot",
            "prid2011/single_shot",
        ),
        markers=("cam_a", "cam_b"),
    )
    describe = "cam_a/ and cam_b/ with person_NNNN.png images"

    def read(self, folder: Path) -> ReIDDataset:
        nums: dict[int, dict[int, str]] = {}
        for camid, sub in enumerate(("cam_a", "cam_b")):
            files = require_images(self.subdir(folder, sub), EXPECTED)
            nums[camid] = {int(m.group(1)): str(p) for p, m in parse_names(files, NAME, EXPECTED)}
        shared_a = {n for n in nums[0] if n <= NUM_SHARED}
        shared_b = {n for n in nums[1] if n <= NUM_SHARED}
        if shared_a != shared_b:
            raise DatasetLayoutError(
                f"dataset {self.name!r} ({folder}): persons 1..{NUM_SHARED} must be in both "
                f"cam_a/ and cam_b/; only in cam_a: {first_few(sorted(shared_a - shared_b))}; "
                f"only in cam_b: {first_few(sorted(shared_b - shared_a))}"
            )
        cam_a = [ImageRecord(p, n, 0) for n, p in sorted(nums[0].items())]
        cam_b = [
            ImageRecord(p, n if n <= NUM_SHARED else CAM_B_OFFSET + n, 1)
            for n, p in sorted(nums[1].items())
        ]
        return self.make(folder, cam_a + cam_b, query=cam_a, gallery=cam_b)
