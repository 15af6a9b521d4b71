"""Images/second of ``extract_features`` (decode, resize, forward) vs the model alone.

Run: ``python bench/extract_speed.py [--images 384] [--workers 0 1 2] [--device cpu]``.
Writes temporary 128x64 JPEG crops, embeds them with torchvision's resnet18 (random init, no
download) at 256x128, and prints each rate and the ratio pipeline / model-alone (goal >= 0.8).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.models import resnet18

from dgreid.evaluation.extract import extract_features
from dgreid.structures import ImageRecord


def write_jpegs(folder: Path, n: int) -> list[ImageRecord]:
    rng = np.random.default_rng(0)
    recs = []
    for i in range(n):
        # smooth colour fields plus noise: compresses like a real crop, not like pure noise
        base = rng.integers(0, 256, (4, 2, 3)).astype(np.float32)
        img = np.kron(base, np.ones((32, 32, 1))) + rng.normal(0, 12, (128, 64, 3))
        path = folder / f"{i:04d}_c{i % 6}s1_000000_00.jpg"
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        recs.append(ImageRecord(str(path), pid=i // 4, camid=i % 6))
    return recs


def model_alone(model: torch.nn.Module, n: int, batch: int, device: torch.device) -> float:
    x = torch.randn(batch, 3, 256, 128, device=device)
    with torch.inference_mode():
        model(x)  # warm-up
        _sync(device)
        t = time.perf_counter()
        for _ in range(0, n, batch):
            model(x).float().cpu()
        _sync(device)
    return n / (time.perf_counter() - t)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=384)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args()
    device = torch.device(a.device)
    model = resnet18(weights=None)
    model.fc = torch.nn.Identity()
    model = model.to(device).eval()
    with tempfile.TemporaryDirectory() as tmp:
        recs = write_jpegs(Path(tmp), a.images)
        alone = model_alone(model, a.images, a.batch_size, device)
        print(f"device {device}, torch threads {torch.get_num_threads()}, {a.images} images")
        print(f"model alone (resnet18, 256x128, batch {a.batch_size}): {alone:.1f} img/s")
        for w in a.workers:
            extract_features(
                model, recs[: a.batch_size], a.batch_size, device, workers=w, progress=False
            )  # warm-up
            t = time.perf_counter()
            extract_features(model, recs, a.batch_size, device, workers=w, progress=False)
            rate = a.images / (time.perf_counter() - t)
            print(f"pipeline workers={w}: {rate:.1f} img/s  ratio {rate / alone:.2f}")


if __name__ == "__main__":
    main()
