"""CUHK01 (``campus/``): ``PPPPNNN.png``, 4-digit pid and image number 001-004; images 1-2 come
from camera A (camid 0) and 3-4 from camera B (camid 1)."""

from __future__ import annotations

import re
from pathlib import Path

from dgreid.data.datasets.base import (
    DatasetLoader,
    Layout,
    parse_names,
    require_images,
)
from dgreid.structures import ImageRecord, ReIDDataset

NAME = re.compile(r"(\d{4})(00[1-4])\.\w+")
EXPECTED = "PPPPNNN.png (4-digit pid, image 001-004)"


class CUHK01(DatasetLoader):
    """CUHK01 (Li et al., ACCV 2012): 971 ids, 3,884 images, 2 cameras."""

    layout = Layout(candidates=("cuhk01/campus", "CUHK01/campus", "campus"), markers=())
    describe = "a campus/ folder of PPPPNNN.png images"
    protocol = "cuhk01"  # as a target: 485 test ids, one camera-A probe, one camera-B gallery

    def read(self, folder: Path) -> ReIDDataset:
        files = require_images(folder, EXPECTED)
        records = [
            ImageRecord(str(p), int(m.group(1)), 0 if int(m.group(2)) <= 2 else 1)
            for p, m in parse_names(files, NAME, EXPECTED)
        ]
        return self.make(folder, records)
