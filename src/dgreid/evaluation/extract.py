"""Run an embedding model over image records: decode, resize, forward, in record order."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dgreid.data.image_dataset import ImageDataset
from dgreid.data.transforms import build_transform
from dgreid.structures import ImageRecord, collate_batch
from dgreid.utils.progress import progress_bar


@dataclass
class FeatureSet:
    """Features of a list of labelled records, row ``i`` for record ``i`` (torch, with pids,
    camids and domains for ranking). A deployed model's unlabelled features of an image folder
    are :class:`~dgreid.deploy.features.FolderFeatures`."""

    features: torch.Tensor  # (N, D) float32, CPU
    pids: np.ndarray
    camids: np.ndarray
    domains: np.ndarray
    paths: list[str]

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def take(self, rows: Sequence[int]) -> FeatureSet:
        """The subset of ``rows`` (in that order)."""
        idx = np.asarray(rows, dtype=np.int64)
        return FeatureSet(
            features=self.features[torch.from_numpy(idx)],
            pids=self.pids[idx],
            camids=self.camids[idx],
            domains=self.domains[idx],
            paths=[self.paths[i] for i in idx],
        )


def _module_of(model: Callable[[torch.Tensor], torch.Tensor]) -> nn.Module | None:
    """The module behind ``model``: itself, or the owner of a bound method such as ``embed``."""
    if isinstance(model, nn.Module):
        return model
    owner = getattr(model, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def extract_features(
    model: Callable[[torch.Tensor], torch.Tensor],
    records: Sequence[ImageRecord],
    batch_size: int = 128,
    device: str | torch.device = "cpu",
    flip: bool = False,
    height: int = 256,
    width: int = 128,
    workers: int = 0,
    progress: bool = True,
) -> FeatureSet:
    """Features of ``records`` from ``model`` (images -> features, e.g. a module or its bound
    ``embed``), computed in eval mode under ``torch.inference_mode``; the module's train/eval
    state is restored afterwards.

    ``flip`` averages the features of each image and its horizontal mirror. Images are
    resized to ``height x width`` with the test transform; ``workers`` DataLoader processes
    decode them. Returns float32 CPU features in record order.
    """
    if len(records) == 0:
        raise ValueError("extract_features: no records to extract")
    device = torch.device(device)
    loader = torch.utils.data.DataLoader(
        ImageDataset(records, build_transform(height, width, train=False)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_batch,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    module = _module_of(model)
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    chunks: list[torch.Tensor] = []
    forward = functools.partial(_forward, model)
    try:
        bar = progress_bar(
            total=len(loader), desc="extract", unit="batch", disable=not progress, leave=False
        )
        with torch.inference_mode(), bar:
            for batch in loader:
                images = batch.images.to(device, non_blocking=True)
                feats = flip_averaged(forward, images) if flip else forward(images)
                chunks.append(feats.float().cpu())
                bar.update(1)
    finally:
        if module is not None:
            module.train(was_training)
    return FeatureSet(
        features=torch.cat(chunks),
        pids=np.array([r.pid for r in records], dtype=np.int64),
        camids=np.array([r.camid for r in records], dtype=np.int64),
        domains=np.array([r.domain for r in records], dtype=np.int64),
        paths=[r.path for r in records],
    )


def flip_averaged(
    embed: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor
) -> torch.Tensor:
    """The mean of ``embed``'s features of NCHW ``images`` and of their horizontal mirrors (the
    flip-averaged test feature, ``eval.flip``)."""
    return (embed(images) + embed(torch.flip(images, dims=[3]))) / 2


def _forward(model: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    out = model(images)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the model must return a feature tensor, got {type(out).__name__}")
    return out.flatten(1) if out.ndim != 2 else out
