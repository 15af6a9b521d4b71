"""Training input pipeline against the model: images/second at 64x32 and 128x64.

Prints, per input size: the pipeline alone (decoding every image, ``data.cache=none``; and the
decoded-image cache, ``data.cache=memory``, with the time it took to build), the CPU configs'
training step alone (train_speed.py's cpu setting: baseline and episodic), and pipeline and
baseline step together, then the ratio pipeline / model (the goal: at least 1.5x).
Each figure is the median over interleaved rounds (see train_speed.median_seconds).

The images: temporary person-like JPEG crops of assorted sizes (60-160 px wide, 2-2.6 times as
tall), Market-style names under ``custom/bounding_box_train``, read by the ``custom`` loader;
or ``--data DIR``, any folder the ``custom`` loader reads.

    .venv/bin/python bench/pipeline_speed.py
    OMP_NUM_THREADS=1 .venv/bin/python bench/pipeline_speed.py --images 2000 --workers 1
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from train_speed import SETTINGS, build_methods, make_batch, median_seconds, step_fn

from dgreid.data.datasets import build_dataset
from dgreid.data.image_cache import MB, ImageCache, build_image_cache
from dgreid.engine import ImageStream
from dgreid.engine.threads import set_training_threads
from dgreid.structures import Batch, ImageRecord

SIZES = ((64, 32), (128, 64))


def write_crops(root: Path, n: int, per_id: int = 5) -> None:
    """``n`` JPEG crops, ``per_id`` per identity over 6 cameras: a head, a torso and legs in
    random colours with noise, so they compress like real crops rather than like noise."""
    rng = np.random.default_rng(0)
    folder = root / "custom" / "bounding_box_train"
    folder.mkdir(parents=True)
    for i in range(n):
        w = int(rng.integers(60, 161))
        h = int(w * rng.uniform(2.0, 2.6))
        bands = rng.integers(0, 256, (3, 1, 3)).astype(np.float32)  # head, torso, legs
        rows = np.repeat(bands, [h // 5, 2 * h // 5, h - h // 5 - 2 * h // 5], axis=0)
        img = np.broadcast_to(rows, (h, w, 3)) + rng.normal(0, 14, (h, w, 3))
        name = f"{i // per_id:04d}_c{i % 6 + 1}s1_{i:06d}_00.jpg"
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / name, quality=90)


def batches(
    records: list[ImageRecord],
    size: tuple[int, int],
    cache: ImageCache | None,
    args: argparse.Namespace,
) -> Iterator[Batch]:
    """One epoch of the training stream (PK sampler, K = 4), a batch for every round."""
    stream = ImageStream(records, 4, *size, workers=args.workers, cache=cache)
    opened = stream.open("pk", args.batch, seed=0, iters_per_epoch=args.rounds + 1)
    return opened.epoch(0)


def fetch(it: Iterator[Batch]) -> Callable[[], object]:
    return lambda: next(it)


def bench_size(records: list[ImageRecord], size: tuple[int, int], args: argparse.Namespace) -> None:
    device = torch.device("cpu")
    start = time.perf_counter()
    cache = build_image_cache(records, *size, budget_mb=args.budget_mb, progress=False)
    built = time.perf_counter() - start
    setting = dataclasses.replace(SETTINGS["cpu"], height=size[0], width=size[1])
    base, epi = build_methods(setting, max(r.pid for r in records) + 1, device)
    batch = make_batch(args.batch, *size, device)
    model = f"4 x {setting.extractor}, F={setting.backbone}"
    fns = {
        "pipeline alone   decode (data.cache=none)": fetch(batches(records, size, None, args)),
        "pipeline alone   cache (data.cache=memory)": fetch(batches(records, size, cache, args)),
        f"model alone      baseline step ({setting.baseline_backbone})": step_fn(base, batch),
        f"model alone      episodic step ({model})": step_fn(epi, batch),
        "together         decode + baseline step": step_fn(
            base, batches(records, size, None, args)
        ),
        "together         cache + baseline step": step_fn(
            base, batches(records, size, cache, args)
        ),
    }
    seconds = dict(zip(fns, median_seconds(list(fns.values()), args.rounds, device)))
    rate = {name: args.batch / s for name, s in seconds.items()}
    print(f"== {size[0]}x{size[1]}, batch {args.batch}")
    print(
        f"  cache build: {len(cache.rows)} images, {cache.pixels.numel() / MB:.1f} MB, "
        f"{built:.2f} s ({len(cache.rows) / built:.0f} img/s)"
    )
    width = max(map(len, rate))
    for name, r in rate.items():
        print(f"  {name:<{width}} {r:9.1f} img/s")
    decode, cached, alone = list(rate.values())[:3]
    print(
        f"  pipeline / model (baseline step): decode {decode / alone:.2f}x, "
        f"cache {cached / alone:.2f}x (goal >= 1.5x)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000, help="crops to generate")
    ap.add_argument("--data", type=Path, help="a folder the custom loader reads, not generated")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=20, help="timed rounds (one batch each)")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    ap.add_argument("--budget-mb", type=int, default=2048, help="data.cache_budget_mb")
    ap.add_argument(
        "--threads", type=int, default=0,
        help="torch CPU threads (0 = what dgreid train picks for these data.workers)",
    )  # fmt: skip
    args = ap.parse_args()
    threads, why = set_training_threads(args.threads, workers=args.workers)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            root = Path(tmp)
            write_crops(root, args.images)
        records = build_dataset("custom", root).records
        what = root if args.data else "generated JPEG crops, 60-160 px wide"
        print(
            f"torch {torch.__version__}, {threads} CPU threads ({why}), {args.workers} "
            f"DataLoader workers; {len(records)} images ({what}), read by the custom loader"
        )
        for size in SIZES:
            bench_size(records, size, args)


if __name__ == "__main__":
    main()
