"""Market-1501: ``bounding_box_train/``, ``query/``, ``bounding_box_test/``.

Names ``PPPP_cCsS_FFFFFF_NN.jpg``: pid ``-1`` is junk (dropped), ``0000`` a distractor (kept in
the gallery as ``DISTRACTOR_PID``, dropped by the DG source protocol). DukeMTMC-reID reuses this
reader with its own name pattern.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from dgreid.data.datasets.base import DatasetLoader, Layout, parse_names, require_images
from dgreid.structures import DISTRACTOR_PID, ImageRecord, ReIDDataset

#: The three published folders, in the order train, query, gallery.
SPLIT_DIRS = ("bounding_box_train", "query", "bounding_box_test")


class ThreeFolderLoader(DatasetLoader):
    """A dataset published as train / query / gallery folders with camera-coded file names."""

    pattern: ClassVar[re.Pattern[str]]
    expected: ClassVar[str]
    #: pid 0 marks a distractor (Market) rather than a person (Duke has no pid 0).
    zero_is_distractor: ClassVar[bool] = False

    def read(self, folder: Path) -> ReIDDataset:
        parts: list[list[ImageRecord]] = []
        for sub in SPLIT_DIRS:
            files = require_images(self.subdir(folder, sub), self.expected)
            recs = []
            for path, m in parse_names(files, self.pattern, self.expected):
                pid, cam = int(m.group(1)), int(m.group(2))
                if pid == -1:
                    continue  # junk: neither a match nor a mismatch
                if pid == 0 and self.zero_is_distractor:
                    pid = DISTRACTOR_PID
                recs.append(ImageRecord(str(path), pid, cam - 1))
            parts.append(recs)
        train, query, gallery = parts
        return self.make(folder, train + query + gallery, train, query, gallery)


class Market1501(ThreeFolderLoader):
    """Market-1501 (Zheng et al., ICCV 2015): 1,501 ids, 6 cameras."""

    layout = Layout(
        candidates=(
            "market1501/Market-1501-v15.09.15",
            "Market-1501-v15.09.15",
            "market1501",
            "Market-1501",
        ),
        markers=SPLIT_DIRS,
    )
    describe = "bounding_box_train/, query/ and bounding_box_test/ with PPPP_cCsS_*.jpg images"
    pattern = re.compile(r"(-1|\d+)_c(\d)s\d+_.+")
    expected = "PPPP_cCsS_FFFFFF_NN.jpg (pid or -1, camera C 1-6, sequence S)"
    zero_is_distractor = True
