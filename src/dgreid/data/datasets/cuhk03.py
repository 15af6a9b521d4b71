"""CUHK03, labeled or detected boxes, from the extracted images or the released ``cuhk-03.mat``.

Extracted names (torchreid / fast-reid convention) are ``C_PPP_V_NN.png``: camera pair C (1-5),
pid P within the pair, view V (1-2), image NN. camid = 2*(C-1) + (V-1); identities are keyed by
(C, P) and relabelled 0..N-1. When only the .mat exists it is extracted once into the toolkit's
cache (never into the data folder), see :mod:`dgreid.data.datasets.cuhk03_mat`.

The 767/700 split (Zhong et al., CVPR 2017, "Re-ranking person re-identification with
k-reciprocal encoding") is read from ``cuhk03_new_protocol_config_{labeled,detected}.mat`` in the
dataset folder when it is there: it names every image (``filelist``) and the 1-based indices of
its train, query and gallery images; they fill ``train``/``query``/``gallery``. Without it the
dataset has no query/gallery of its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dgreid.data.datasets.base import (
    DatasetLayoutError,
    DatasetLoader,
    Layout,
    first_few,
    parse_names,
    relabel,
    require_images,
    resolve_ci,
)
from dgreid.data.datasets.cuhk03_mat import MAT_PATHS, extract_mat
from dgreid.structures import ImageRecord, ReIDDataset

NAME = re.compile(r"(\d+)_(\d+)_([12])_(\d+)\.\w+")
EXPECTED = "C_PPP_V_NN.png (camera pair C, pid P, view V 1|2, image NN)"
#: the 767/700 split file of each variant, in the dataset folder
SPLIT_FILE = "cuhk03_new_protocol_config_{variant}.mat"
SPLIT_KEYS = ("filelist", "train_idx", "query_idx", "gallery_idx")


def read_split(path: Path, images: dict[str, ImageRecord]) -> list[list[ImageRecord]]:
    """The train, query and gallery records the split file ``path`` names (``images``: file
    name -> record). A file that is not such a split, or names an image not there, is an error
    naming it."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        data: dict[str, Any] = loadmat(str(path))
    except (MatReadError, ValueError, OSError, NotImplementedError, TypeError) as e:
        raise DatasetLayoutError(f"{path}: not a readable MATLAB split file ({e})") from None
    lacking = [k for k in SPLIT_KEYS if k not in data]
    if lacking:
        raise DatasetLayoutError(
            f"{path}: lacks {', '.join(lacking)}; a 767/700 split file holds "
            f"{', '.join(SPLIT_KEYS)}"
        )
    names = [str(np.asarray(cell).ravel()[0]) for cell in np.asarray(data["filelist"]).ravel()]
    parts = []
    for key in SPLIT_KEYS[1:]:
        index = np.asarray(data[key]).ravel().astype(int) - 1
        if index.size and (index.min() < 0 or index.max() >= len(names)):
            raise DatasetLayoutError(
                f"{path}: {key} holds indices outside 1..{len(names)} (the filelist's length)"
            )
        parts.append([names[i] for i in index])
    absent = sorted({n for part in parts for n in part if n not in images})
    if absent:
        raise DatasetLayoutError(
            f"{path}: {len(absent)} image(s) it names are not among the extracted images: "
            f"{first_few(absent)}"
        )
    return [[images[n] for n in part] for part in parts]


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
        split = resolve_ci(folder, SPLIT_FILE.format(variant=self.variant))
        if split is None or not split.is_file():
            return self.make(folder, records)
        train, query, gallery = read_split(split, {Path(r.path).name: r for r in records})
        return self.make(folder, records, train, query, gallery)


class CUHK03Detected(CUHK03):
    """CUHK03 with the detector's boxes (``images_detected/``)."""

    variant = "detected"
    variant_of = "cuhk03"
    layout = Layout(
        candidates=("cuhk03", "CUHK03"),
        markers=("|".join(("images_detected", *MAT_PATHS)),),
    )
    describe = "images_detected/ (C_PPP_V_NN.png) or cuhk03_release/cuhk-03.mat"
