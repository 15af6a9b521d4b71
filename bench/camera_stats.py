"""Per-camera colour statistics of re-ID domains: how far apart are a network's cameras?

Prints, for each dataset, the spread between its cameras of the mean brightness and of the
colour cast (each channel's mean over the three channels' mean), and the range of per-camera
contrast (pixel standard deviation), from up to ``--per-camera`` images per camera resized to
32x64 with values in [0, 1]. Used to calibrate the synthetic generator's photometric levels on
real cameras (docs/synthetic.md).

    python bench/camera_stats.py --root DATA --datasets custom cuhk01
    python bench/camera_stats.py --root data/synth --datasets synth-market synth-duke
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from dgreid.data.datasets import build_dataset


def camera_means(root: str, name: str, per_camera: int, seed: int = 0) -> np.ndarray:
    """(cameras, 6): mean RGB and mean per-image RGB standard deviation of each camera."""
    by_cam: dict[int, list[str]] = {}
    for rec in build_dataset(name, root).records:
        by_cam.setdefault(rec.camid, []).append(rec.path)
    rng = np.random.default_rng(seed)
    rows = []
    for _, paths in sorted(by_cam.items()):
        pick = rng.choice(len(paths), min(per_camera, len(paths)), replace=False)
        feats = []
        for i in pick:
            with Image.open(paths[i]) as img:
                a = np.asarray(img.convert("RGB").resize((32, 64)), np.float32) / 255
            feats.append(np.concatenate([a.mean((0, 1)), a.std((0, 1))]))
        rows.append(np.mean(feats, axis=0))
    return np.array(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--datasets", nargs="+", required=True)
    ap.add_argument("--per-camera", type=int, default=400)
    args = ap.parse_args()
    print("dataset         cams  brightness (spread)       colour-cast spread  contrast")
    for name in args.datasets:
        m = camera_means(args.root, name, args.per_camera)
        lum = m[:, :3].mean(axis=1)
        cast = np.ptp(m[:, :3] / lum[:, None], axis=0).max()
        con = m[:, 3:].mean(axis=1)
        print(
            f"{name:14s}  {len(m):4d}  {lum.min():.3f}-{lum.max():.3f} ({np.ptp(lum):.3f})"
            f"       {cast:.3f}               {con.min():.3f}-{con.max():.3f}"
        )


if __name__ == "__main__":
    main()
