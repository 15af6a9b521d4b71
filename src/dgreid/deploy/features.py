"""Feature files: extract features for every image under a folder, save and load them as .npz.

A feature file (``numpy.savez``, read with ``allow_pickle=False``) holds:
``features`` float32 (N, D); ``paths`` unicode (N,) relative to ``root``; ``root`` the absolute
image folder; ``meta`` the model's :class:`~dgreid.deploy.model_file.ModelMeta` as JSON.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dgreid.data.image_dataset import read_image
from dgreid.deploy.api import ReIDModel
from dgreid.errors import DatasetError, DgreidError
from dgreid.utils.io import atomic_write_bytes
from dgreid.utils.progress import progress_bar

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})


class FeatureFileError(DgreidError):
    """A feature file is missing, unreadable, or lacks the expected arrays."""


@dataclass
class FolderFeatures:
    """Features of the images under one folder, as saved in a feature file: ``paths[i]``
    (relative to ``root``) has ``features[i]`` (NumPy). The evaluation's
    :class:`~dgreid.evaluation.FeatureSet` is its labelled counterpart (pids, camids, domains)."""

    features: np.ndarray
    paths: list[str]
    root: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.paths)

    def abspath(self, i: int) -> str:
        return str(Path(self.root) / self.paths[i])


@dataclass
class Skipped:
    """An image that could not be read, and why."""

    path: str
    reason: str


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden files and folders ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: image folder not found")
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


class _FolderImages(torch.utils.data.Dataset):
    """Decodes and preprocesses one image; an unreadable file yields its error message."""

    def __init__(self, paths: list[Path], transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self.paths = paths
        self.transform = transform  # not the model: workers may receive a pickled copy

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str]:
        try:
            return i, self.transform(read_image(str(self.paths[i]))), ""
        except DatasetError as e:
            return i, None, str(e)


def _keep_all(items: list[tuple[int, torch.Tensor | None, str]]) -> list[Any]:
    return items


def extract_folder(
    model: ReIDModel,
    folder: str | Path,
    batch_size: int = 64,
    workers: int = 0,
    progress: bool = True,
) -> tuple[FolderFeatures, list[Skipped]]:
    """Embed every image under ``folder``; unreadable files are skipped and returned."""
    folder = Path(folder).resolve()
    paths = list_images(folder)
    loader = torch.utils.data.DataLoader(
        _FolderImages(paths, model.transform),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_keep_all,
    )
    feats: list[torch.Tensor] = []
    kept: list[str] = []
    skipped: list[Skipped] = []
    bar = progress_bar(
        total=len(paths), desc="embedding images", unit="img", disable=not progress,
        file=sys.stderr,
    )  # fmt: skip
    for items in loader:
        good = [(i, t) for i, t, _ in items if t is not None]
        skipped += [Skipped(str(paths[i]), msg) for i, t, msg in items if t is None]
        if good:
            feats.append(model.embed_batch(torch.stack([t for _, t in good])))
            kept += [paths[i].relative_to(folder).as_posix() for i, _ in good]
        bar.update(len(items))
    bar.close()
    dim = model.feat_dim
    arr = torch.cat(feats).numpy().astype(np.float32) if feats else np.zeros((0, dim), np.float32)
    return FolderFeatures(arr, kept, str(folder), model.meta.to_dict()), skipped


def save_features(path: str | Path, fs: FolderFeatures) -> None:
    """Write a feature file atomically."""
    buf = io.BytesIO()
    np.savez(
        buf,
        features=np.ascontiguousarray(fs.features, dtype=np.float32),
        paths=np.array(fs.paths, dtype=np.str_),
        root=np.array(fs.root, dtype=np.str_),
        meta=np.array(json.dumps(fs.meta), dtype=np.str_),
    )
    atomic_write_bytes(path, buf.getvalue())


def load_features(path: str | Path) -> FolderFeatures:
    """Read a feature file written by :func:`save_features` (no pickled objects accepted)."""
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(f"{path}: feature file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("features", "paths") if k not in z.files]
            if missing:
                raise FeatureFileError(
                    f"{path}: lacks {', '.join(missing)} (expected a file from 'dgreid extract')"
                )
            feats = np.asarray(z["features"], dtype=np.float32)
            paths = [str(p) for p in z["paths"]]
            root = str(z["root"]) if "root" in z.files else str(path.parent)
            meta = json.loads(str(z["meta"])) if "meta" in z.files else {}
    except FeatureFileError:
        raise
    except (OSError, ValueError, EOFError) as e:
        raise FeatureFileError(f"{path}: not a readable .npz feature file: {e}") from e
    if feats.ndim != 2 or feats.shape[0] != len(paths):
        raise FeatureFileError(
            f"{path}: features have shape {feats.shape} but there are {len(paths)} paths"
        )
    return FolderFeatures(feats, paths, root, meta)
