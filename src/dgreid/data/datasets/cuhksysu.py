"""CUHK-SYSU person crops as fast-reid prepares them (``cropped_images/``): ``pPID_sSCENE*.jpg``.

The dataset has no camera labels: every image gets camid 0. Used as a fifth source only.
"""

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

NAME = re.compile(r"p(\d+)_s(\d+).*\.\w+")
EXPECTED = "pPID_sSCENE_*.jpg"


class CUHKSYSU(DatasetLoader):
    """CUHK-SYSU crops (Xiao et al., CVPR 2017): 11,934 ids, 34,574 images."""

    layout = Layout(
        candidates=(
            "cuhk_sysu/cropped_images",
            "CUHK-SYSU/cropped_images",
            "cuhksysu/cropped_images",
            "cuhk-sysu/cropped_images",
            "cropped_images",
        ),
        markers=(),
    )
    describe = "a cropped_images/ folder of pPID_sSCENE*.jpg images"

    def read(self, folder: Path) -> ReIDDataset:
        files = require_images(folder, EXPECTED)
        records = [
            ImageRecord(str(p), int(m.group(1)), 0) for p, m in parse_names(files, NAME, EXPECTED)
        ]
        return self.make(folder, records)
