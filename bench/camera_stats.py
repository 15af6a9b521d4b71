"""Per-camera colour statistics of re-ID domains: how far apart are a network's cameras?

Prints, for each dataset, the spread between its cameras of the mean brightness and of the
colour cast (each channel's mean over the three channels' mean), the mean over camera pairs of
the same two differences (which, unlike the spread, does not grow with the number of cameras),
and the range of per-camera contrast (pixel standard deviation), from up to ``--per-camera``
images per camera resized to 32x64 with values in [0, 1]. Last, the same pair differences
between the datasets' overall means (how far apart the domains are). Used to calibrate the
synthetic generator's photometric levels on real cameras (docs/synthetic.md, "Version 3").

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


def brightness_cast(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``means`` ((n, >=3) mean RGB): brightness (the channels' mean) and colour
    cast (each channel over that mean)."""
    lum = means[:, :3].mean(axis=1)
    return lum, means[:, :3] / lum[:, None]


def pair_gaps(means: np.ndarray) -> tuple[float, float]:
    """Mean over pairs of rows of |brightness difference| and of the largest |colour-cast
    difference| over the channels; ``means`` is (n, >=3) mean RGB."""
    lum, cast = brightness_cast(means)
    pairs = [(a, b) for a in range(len(means)) for b in range(a + 1, len(means))]
    if not pairs:
        return 0.0, 0.0
    d_lum = np.mean([abs(lum[a] - lum[b]) for a, b in pairs])
    d_cast = np.mean([np.abs(cast[a] - cast[b]).max() for a, b in pairs])
    return float(d_lum), float(d_cast)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--datasets", nargs="+", required=True)
    ap.add_argument("--per-camera", type=int, default=400)
    args = ap.parse_args()
    print(
        "dataset         cams  brightness (spread)  cast spread  pair: brightness  cast   contrast"
    )
    overall = []
    for name in args.datasets:
        m = camera_means(args.root, name, args.per_camera)
        lum, casts = brightness_cast(m)
        cast = np.ptp(casts, axis=0).max()
        con = m[:, 3:].mean(axis=1)
        d_lum, d_cast = pair_gaps(m)
        overall.append(m.mean(axis=0))
        print(
            f"{name:14s}  {len(m):4d}  {lum.min():.3f}-{lum.max():.3f} ({np.ptp(lum):.3f})"
            f"  {cast:.3f}        {d_lum:.3f}            {d_cast:.3f}"
            f"  {con.min():.3f}-{con.max():.3f}"
        )
    if len(overall) > 1:
        d_lum, d_cast = pair_gaps(np.array(overall))
        print(
            f"between datasets (pairs of dataset means): brightness {d_lum:.3f}, cast {d_cast:.3f}"
        )


if __name__ == "__main__":
    main()
