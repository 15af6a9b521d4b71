"""Extract CUHK03 images from the released ``cuhk-03.mat`` (MATLAB v7.3, i.e. HDF5).

The file holds, per variant (``labeled``/``detected``), a 1x5 cell of camera pairs; each pair is
a (pids x 10) cell of images, the first five from view 1 and the last five from view 2, with
empty cells where an image is missing. Images go to a cache folder of the toolkit's own
(``$DGREID_CACHE`` or ``~/.cache/dgreid``), keyed by the .mat's path, size and time, written to
a temporary folder and renamed into place so an interrupted extraction is never reused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dgreid.errors import DatasetError
from dgreid.utils.io import current_umask
from dgreid.utils.progress import progress_bar

#: Where the .mat may sit inside the CUHK03 folder.
MAT_PATHS = ("cuhk03_release/cuhk-03.mat", "cuhk-03.mat")


def cache_root() -> Path:
    """The toolkit's cache folder: ``$DGREID_CACHE`` or ``~/.cache/dgreid``."""
    env = os.environ.get("DGREID_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dgreid"


def extract_mat(mat: Path, variant: str) -> Path:
    """Folder of ``C_PPP_V_NN.png`` images for ``variant``, extracting ``mat`` on first use."""
    st = mat.stat()
    key = hashlib.sha1(f"{mat.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    out = cache_root() / "cuhk03" / key[:16] / f"images_{variant}"
    if out.is_dir():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".images_{variant}.", dir=out.parent))
    try:
        os.chmod(tmp, 0o777 & ~current_umask())  # as mkdir would, not mkdtemp's 0700
        _write_images(mat, variant, tmp)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_images(mat: Path, variant: str, out: Path) -> None:
    import h5py

    try:
        f = h5py.File(mat, "r")
    except OSError as e:
        raise DatasetError(
            f"{mat}: not readable as MATLAB v7.3 (HDF5) file, as cuhk-03.mat is released ({e})"
        ) from e
    with f:
        if variant not in f:
            raise DatasetError(f"{mat}: no {variant!r} entry (found: {', '.join(f.keys())})")
        pairs = np.asarray(f[variant]).reshape(-1)
        total = 0
        with progress_bar(total=len(pairs), desc=f"extracting CUHK03 {variant}") as bar:
            for c, pair_ref in enumerate(pairs):
                bar.update(1)
                total += _extract_pair(f, pair_ref, c, out)
    if total == 0:
        raise DatasetError(f"{mat}: the {variant!r} entry holds no images")


def _extract_pair(f: Any, pair_ref: Any, camera_pair: int, out: Path) -> int:
    """Write every image of one camera pair; returns how many were written."""
    written = 0
    cells = np.asarray(f[pair_ref]).T  # (pids, 10) references
    for p in range(cells.shape[0]):
        for i, ref in enumerate(cells[p]):
            img = np.asarray(f[ref]).T
            if img.ndim < 3 or img.size == 0:
                continue  # an empty cell: this image does not exist
            view = 1 if i < 5 else 2
            name = f"{camera_pair + 1}_{p + 1:03d}_{view}_{i + 1:02d}.png"
            Image.fromarray(img.astype(np.uint8)).save(out / name)
            written += 1
    return written
