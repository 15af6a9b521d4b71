"""i-LIDS VID-free pedestrian set (``Persons/``): ``PPPPNNN.jpg``, 4-digit pid then image number.

All images get camid 0; the target split draws one probe and one gallery image per id, so every
id must have at least two images.
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

NAME = re.compile(r"(\d{4})(\d{3})\.\w+")
EXPECTED = "PPPPNNN.jpg (4-digit pid, 3-digit image number)"


class ILIDS(DatasetLoader):
    """i-LIDS (Zheng et al., BMVC 2009): 119 ids, 476 images."""

    protocol = "ilids"
    layout = Layout(
        candidates=(
            "ilids/i-LIDS_Pedestrian/Persons",
            "i-LIDS_Pedestrian/Persons",
            "ilids/Persons",
        ),
        markers=(),
    )
    describe = "a Persons/ folder of PPPPNNN.jpg images"

    def read(self, folder: Path) -> ReIDDataset:
        files = require_images(folder, EXPECTED)
        records = [
            ImageRecord(str(path), int(m.group(1)), 0)
            for path, m in parse_names(files, NAME, EXPECTED)
        ]
        counts = Counter(r.pid for r in records)
        single = sorted(p for p, n in counts.items() if n < 2)
        if single:
            raise DatasetLayoutError(
                f"dataset {self.name!r} ({folder}): the i-LIDS protocol needs two images per id "
                f"(one probe, one gallery); ids with one image: {first_few(single)}"
            )
        return self.make(folder, records)
