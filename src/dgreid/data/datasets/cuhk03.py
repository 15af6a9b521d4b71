"""CUHK03, labeled or detected boxes, from the extracted images or the released ``cuhk-03.mat``.

Extracted names (torchreid / fast-reid convention) are ``C_PPP_V_NN.png``: camera pair C (1-5),
pid P within the pair, view V (1-2), image NN. camid = 2*(C-1) + (V-1); identities are keyed by
(C, P) and relabelled 0..N-1. When only the .mat exists it is extracted once into the toolkit's
cache (never into the data folder), see :mod:`dgreid.data.datasets.cuhk03_mat`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from dgreid.data.datasets.base import (
    DatasetLayoutError,
    DatasetLoader,
    Layout,
    parse_names,
    relabel,
    require_images,
    resolve_ci,
)
from dgreid.data.datasets.cuhk03_mat import MAT_PATHS, extract_mat
from dgreid.structures import ImageRecord, ReIDDataset

NAME = re.compile(r"(\d+)_(\d+)_([12])_(\d+)\.\w+")
EXPECTED = "C_PPP_V_NN.png (camera pair C, pid P, view V 1|2, image NN)"


class CUHK03(DatasetLoader):
    """CUHK03 (Li et al., CVPR 2014): 1,467 ids, 5 camera pairs; ``variant`` labeled|detected."""

    variant: ClassVar[str] = "labeled"
    layout = Layout(
        candidates=("cuhk03", "CUHK03"),
        markers=("|".join(("images_labeled", *MAT_PATHS)),),
    )
    describe = "images_labeled/ (C_PPP_V_NN.png) or cuhk03_release/cuhk-03.mat"

    def image_dir(self, folder: Path) -> Path:
        """The extracted image folder, extracting the .mat into the cache when needed."""
        images = resolve_ci(folder, f"images_{self.variant}")
        if images is not None and images.is_dir():
            return images
        for rel in MAT_PATHS:
            mat = resolve_ci(folder, rel)
            if mat is not None and mat.is_file():
                return extract_mat(mat, self.variant)
        raise DatasetLayoutError(
            f"dataset {self.name!r}: {folder} has neither images_{self.variant}/ nor "
            f"{' nor '.join(MAT_PATHS)}"
        )

    def read(self, folder: Path) -> ReIDDataset:
        images = self.image_dir(folder)
        found = [
            ((int(m.group(1)), int(m.group(2))), str(path), int(m.group(1)), int(m.group(3)))
            for path, m in parse_names(require_images(images, EXPECTED), NAME, EXPECTED)
        ]
        labels = relabel(key for key, *_ in found)
        records = [
            ImageRecord(path, labels[key], 2 * (pair - 1) + view - 1)
            for key, path, pair, view in found
        ]
        return self.make(folder, records)


class CUHK03Detected(CUHK03):
    """CUHK03 with the detector's boxes (``images_detected/``)."""

    variant = "detected"
    variant_of = "cuhk03"
    layout = Layout(
        candidates=("cuhk03", "CUHK03"),
        markers=("|".join(("images_detected", *MAT_PATHS)),),
    )
    describe = "images_detected/ (C_PPP_V_NN.png) or cuhk03_release/cuhk-03.mat"
