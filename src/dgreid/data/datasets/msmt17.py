"""MSMT17 V1 or V2, read through its list files.

``list_train.txt`` + ``list_val.txt`` (train), ``list_query.txt``, ``list_gallery.txt``; each line
``PPPP/PPPP_NNN_CC_....jpg PID`` relative to ``train/`` and ``test/`` (V1) or ``mask_train_v2/``
and ``mask_test_v2/`` (V2). CC is the camera (01-15, camid = CC-1). Test pids restart at 0 in the
lists, so they are shifted past the largest train pid.
"""

from __future__ import annotations

from pathlib import Path

from dgreid.data.datasets.base import (
    DatasetLayoutError,
    DatasetLoader,
    Layout,
    first_few,
    list_images,
    resolve_ci,
)
from dgreid.structures import ImageRecord, ReIDDataset

#: (train folder, test folder) of V2 and of V1, tried in that order.
IMAGE_DIRS = (("mask_train_v2", "mask_test_v2"), ("train", "test"))
LINE = "PPPP/PPPP_NNN_CC_*.jpg PID"


class MSMT17(DatasetLoader):
    """MSMT17 (Wei et al., CVPR 2018): 4,101 ids, 126,441 images, 15 cameras."""

    layout = Layout(
        candidates=(
            "msmt17/MSMT17_V2",
            "msmt17/MSMT17_V1",
            "MSMT17_V2",
            "MSMT17_V1",
            "MSMT17",
            "msmt17",
        ),
        markers=("list_train.txt", "list_query.txt", "list_gallery.txt", "mask_train_v2|train"),
    )
    describe = "list_{train,val,query,gallery}.txt with train/ + test/ (V1) or mask_*_v2/ (V2)"

    def read(self, folder: Path) -> ReIDDataset:
        train_dir, test_dir = self._image_dirs(folder)
        train = self._list(folder, "list_train.txt", train_dir, 0)
        if resolve_ci(folder, "list_val.txt") is not None:
            train += self._list(folder, "list_val.txt", train_dir, 0)
        offset = max((r.pid for r in train), default=-1) + 1
        query = self._list(folder, "list_query.txt", test_dir, offset)
        gallery = self._list(folder, "list_gallery.txt", test_dir, offset)
        return self.make(folder, train + query + gallery, train, query, gallery)

    def _image_dirs(self, folder: Path) -> tuple[Path, Path]:
        for tr, te in IMAGE_DIRS:
            a, b = resolve_ci(folder, tr), resolve_ci(folder, te)
            if a is not None and b is not None:
                for d in (a, b):
                    self._check_identity_folders(d)
                return a, b
        raise DatasetLayoutError(
            f"dataset {self.name!r}: {folder} needs train/ and test/ (V1) or mask_train_v2/ and "
            "mask_test_v2/ (V2)"
        )

    def _check_identity_folders(self, images: Path) -> None:
        """Every identity folder holds at least one image."""
        empty = sorted(d.name for d in images.iterdir() if d.is_dir() and not list_images(d))
        if empty:
            raise DatasetLayoutError(
                f"dataset {self.name!r}: identity folder(s) in {images} hold no images: "
                f"{first_few(empty)}"
            )

    def _list(self, folder: Path, name: str, images: Path, offset: int) -> list[ImageRecord]:
        path = resolve_ci(folder, name)
        if path is None:
            raise DatasetLayoutError(f"dataset {self.name!r}: {folder / name} is missing")
        records, bad, missing = [], [], []
        for no, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                rel, pid = parts[0], int(parts[1])
                camid = int(Path(rel).name.split("_")[2]) - 1
            except (IndexError, ValueError):
                bad.append(f"line {no}: {line.strip()!r}")
                continue
            img = images / rel
            if not img.is_file():
                missing.append(str(img))
                continue
            records.append(ImageRecord(str(img), pid + offset, camid))
        if bad:
            raise DatasetLayoutError(f"{path}: lines not of the form {LINE!r}: {first_few(bad)}")
        if missing:
            raise DatasetLayoutError(
                f"{path}: {len(missing)} listed image(s) do not exist: {first_few(missing)}"
            )
        return records
