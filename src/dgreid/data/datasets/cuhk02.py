"""CUHK02: five camera-pair folders ``P1``..``P5``, each with ``cam1/`` and ``cam2/``.

The pid is the name part before the first ``_`` and is unique only within a P folder, so
identities are keyed by (pair, pid) and relabelled 0..N-1. camid = 2*(P-1) + (cam-1).
"""

from __future__ import annotations

import re
from pathlib import Path

from dgreid.data.datasets.base import (
    DatasetLayoutError,
    DatasetLoader,
    Layout,
    parse_names,
    relabel,
    require_images,
    resolve_ci,
)
from dgreid.structures import ImageRecord, ReIDDataset

PAIR_DIR = re.compile(r"[Pp](\d+)")
NAME = re.compile(r"([^_]+)_.+")
EXPECTED = "PID_NN.png (pid before the first '_')"


class CUHK02(DatasetLoader):
    """CUHK02 (Li & Wang, CVPR 2013): 1,816 ids, 7,264 images, 5 camera pairs."""

    layout = Layout(candidates=("cuhk02/Dataset", "CUHK02/Dataset", "cuhk02"), markers=("P1",))
    describe = "camera-pair folders P1..P5, each with cam1/ and cam2/"

    def read(self, folder: Path) -> ReIDDataset:
        pairs = sorted(
            (int(m.group(1)), p)
            for p in folder.iterdir()
            if p.is_dir() and (m := PAIR_DIR.fullmatch(p.name))
        )
        found: list[tuple[tuple[int, str], str, int]] = []
        for pair, pdir in pairs:
            for cam in (1, 2):
                cdir = resolve_ci(pdir, f"cam{cam}")
                if cdir is None or not cdir.is_dir():
                    raise DatasetLayoutError(
                        f"dataset {self.name!r}: {pdir / f'cam{cam}'} is missing "
                        "(every P folder holds cam1/ and cam2/)"
                    )
                for path, m in parse_names(require_images(cdir, EXPECTED), NAME, EXPECTED):
                    found.append(((pair, m.group(1)), str(path), 2 * (pair - 1) + cam - 1))
        labels = relabel(key for key, _, _ in found)
        records = [ImageRecord(path, labels[key], camid) for key, path, camid in found]
        return self.make(folder, records)
