"""Camera styles: background family, illumination, white balance, tone, blur, noise, resolution.

A :class:`CameraStyle` is what differs between two cameras (and, more strongly, two domains);
``finish`` applies it to a batch of rendered people. All pixel arithmetic is elementwise or a
fixed-order sum of shifted copies, so results are the same whatever the batch composition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from dgreid.data.synth.attributes import View

F = np.float32

#: Background families: upper colour, lower colour, vertical-structure amplitude, floor-tile
#: amplitude, horizon (fraction of the height) -- each jittered per image.
BACKGROUNDS: dict[
    str, tuple[tuple[float, float, float], tuple[float, float, float], float, float, float]
] = {
    "street": ((0.62, 0.57, 0.5), (0.44, 0.44, 0.46), 0.28, 0.0, 0.62),
    "campus": ((0.44, 0.52, 0.4), (0.74, 0.74, 0.76), 0.18, 0.05, 0.55),
    "pavement": ((0.52, 0.54, 0.58), (0.62, 0.57, 0.5), 0.12, 0.1, 0.5),
    "indoor": ((0.78, 0.74, 0.66), (0.5, 0.42, 0.35), 0.1, 0.12, 0.6),
    "underground": ((0.36, 0.4, 0.34), (0.27, 0.27, 0.25), 0.2, 0.3, 0.55),
    "airport": ((0.86, 0.86, 0.9), (0.62, 0.6, 0.58), 0.22, 0.08, 0.65),
    "road": ((0.42, 0.5, 0.44), (0.38, 0.38, 0.4), 0.15, 0.0, 0.58),
    "garden": ((0.36, 0.5, 0.3), (0.55, 0.5, 0.42), 0.3, 0.0, 0.6),
}


@dataclass(frozen=True)
class CameraStyle:
    """One camera's look. ``blur`` and ``res`` are given for a 128-pixel-high image."""

    gain: float
    wb: tuple[float, float, float]
    saturation: float
    contrast: float
    gamma: float
    haze: float
    blur: int
    noise: float
    res: float
    jpeg: int  # JPEG quality, 0 = lossless
    background: str
    view_probs: tuple[float, float, float]  # front, back, side

    def to_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def background(views: Sequence[View], family: str, height: int, width: int) -> np.ndarray:
    """(B, H, W, 3) float32 scene behind the people: two regions, vertical structures, tiles."""
    top_c, bot_c, amp, tiles, horizon = BACKGROUNDS[family]
    r = np.array([vw.bg for vw in views], dtype=F)  # (B, 8) per-image randoms
    b = len(views)
    yy = (np.arange(height, dtype=F) + F(0.5))[None, :, None] / F(height)
    xx = (np.arange(width, dtype=F) + F(0.5))[None, None, :] / F(width)
    hor = (F(horizon) + (r[:, 0] - F(0.5)) * F(0.2)).reshape(b, 1, 1)
    above = yy < hor
    tint = F(0.8) + F(0.4) * r[:, 1:4]
    top = np.asarray(top_c, F) * tint
    bot = np.asarray(bot_c, F) * (F(0.85) + F(0.3) * r[:, 3:4])
    rows = np.where(above[..., None], top[:, None, None, :], bot[:, None, None, :])
    period = (F(0.2) + F(0.5) * r[:, 4]).reshape(b, 1, 1)
    phase = r[:, 5].reshape(b, 1, 1)
    bands = (((xx / period + phase) % F(1)) < F(0.4)).astype(F)
    tile = ((((yy - hor) * F(14)) % F(1)) < F(0.12)).astype(F)
    light = F(1) + F(amp) * (bands - F(0.4)) * above - F(tiles) * tile * ~above
    out = rows * light[..., None]
    # One large scene object (a door, a bench, a pillar) per image.
    ox = r[:, 6].reshape(b, 1, 1)
    obj = (np.abs(xx - ox) < F(0.12)) & (yy > hor - F(0.25)) & (yy < hor + F(0.05))
    shade = (F(0.55) + F(0.6) * r[:, 7]).reshape(b, 1, 1, 1)
    return np.where(obj[..., None], out * shade, out)


def _binomial_blur(img: np.ndarray, passes: int) -> np.ndarray:
    """[1, 2, 1] / 4 along H and W, ``passes`` times, edges replicated."""
    for _ in range(passes):
        for axis in (1, 2):
            out = img * F(2)
            lo = [slice(None)] * img.ndim
            hi = [slice(None)] * img.ndim
            lo[axis], hi[axis] = slice(0, -1), slice(1, None)
            out[tuple(hi)] += img[tuple(lo)]
            out[tuple(lo)] += img[tuple(hi)]
            first, last = [slice(None)] * img.ndim, [slice(None)] * img.ndim
            first[axis], last[axis] = slice(0, 1), slice(-1, None)
            out[tuple(first)] += img[tuple(first)]
            out[tuple(last)] += img[tuple(last)]
            out *= F(0.25)
            img = out
    return img


def _low_res(img: np.ndarray, factor: float) -> np.ndarray:
    """Resolution loss: average, sample a coarse grid, blow it back up (blocky), soften."""
    h, w = img.shape[1:3]
    img = _binomial_blur(img, max(1, int(factor // 1.5)))
    iy = np.minimum(((np.arange(h) // factor + 0.5) * factor).astype(int), h - 1)
    ix = np.minimum(((np.arange(w) // factor + 0.5) * factor).astype(int), w - 1)
    return _binomial_blur(img[:, iy][:, :, ix], 1)


def finish(
    img: np.ndarray, style: CameraStyle, views: Sequence[View], noise: np.ndarray
) -> np.ndarray:
    """Apply camera ``style`` to (B, H, W, 3) float32 in 0..1; ``noise`` is N(0, 1) per pixel."""
    h = img.shape[1]
    k = h / 128.0
    light = np.array([vw.light for vw in views], F).reshape(-1, 1, 1, 1)
    img = img * (light * F(style.gain)) * np.asarray(style.wb, F)
    grey = (img[..., 0:1] + img[..., 1:2] + img[..., 2:3]) * F(1 / 3)
    img = grey + (img - grey) * F(style.saturation)
    img = (img - F(0.5)) * F(style.contrast) + F(0.5)
    img = img * F(1 - style.haze) + F(style.haze * 0.55)
    img = np.clip(img, F(0), F(1))
    if style.res * k > 1.2:
        img = _low_res(img, style.res * k)
    img = _binomial_blur(img, int(round(style.blur * k)))
    lut = np.array([(i / 1023.0) ** style.gamma for i in range(1024)], F)
    img = lut[(img * F(1023) + F(0.5)).astype(np.int32)]
    img = img + noise * F(style.noise)
    return np.clip(img * F(255) + F(0.5), F(0), F(255)).astype(np.uint8)
