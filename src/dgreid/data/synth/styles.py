"""Camera styles: background family, illumination, white balance, tone, blur, noise, resolution.

A :class:`CameraStyle` is what differs between two cameras (and, more strongly, two domains);
``finish`` (version 1) and ``capture`` (version 2) apply it to a batch of rendered people. All
pixel arithmetic is elementwise or a fixed-order sum of shifted copies, so results are the same
whatever the batch composition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from dgreid.data.synth.attributes import View

F = np.float32


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


def _tone(img: np.ndarray, style: CameraStyle, views: Sequence[View]) -> np.ndarray:
    """Illumination, white balance, saturation, contrast and haze, clipped to 0..1."""
    light = np.array([vw.light for vw in views], F).reshape(-1, 1, 1, 1)
    img = img * (light * F(style.gain)) * np.asarray(style.wb, F)
    grey = (img[..., 0:1] + img[..., 1:2] + img[..., 2:3]) * F(1 / 3)
    img = grey + (img - grey) * F(style.saturation)
    img = (img - F(0.5)) * F(style.contrast) + F(0.5)
    img = img * F(1 - style.haze) + F(style.haze * 0.55)
    return np.clip(img, F(0), F(1))


def _gamma(img: np.ndarray, gamma: float) -> np.ndarray:
    lut = np.array([(i / 1023.0) ** gamma for i in range(1024)], F)
    return lut[(img * F(1023) + F(0.5)).astype(np.int32)]


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * F(255) + F(0.5), F(0), F(255)).astype(np.uint8)


def finish(
    img: np.ndarray, style: CameraStyle, views: Sequence[View], noise: np.ndarray
) -> np.ndarray:
    """Apply camera ``style`` to (B, H, W, 3) float32 in 0..1; ``noise`` is N(0, 1) per pixel."""
    k = img.shape[1] / 128.0
    img = _tone(img, style, views)
    if style.res * k > 1.2:
        img = _low_res(img, style.res * k)
    img = _binomial_blur(img, int(round(style.blur * k)))
    img = _gamma(img, style.gamma)
    return _to_uint8(img + noise * F(style.noise))


def capture_size(size: tuple[int, int], res: float) -> tuple[int, int]:
    """Version 2: the (H, W) a camera of resolution factor ``res`` captures for output ``size``
    (``res`` is given for a 128-pixel-high output)."""
    h, w = size
    factor = res * h / 128.0
    if factor <= 1.0:
        return size
    hc = max(8, int(round(h / factor)))
    return hc, max(4, int(round(w * hc / h)))


def capture(
    img: np.ndarray,
    style: CameraStyle,
    views: Sequence[View],
    noise: np.ndarray,
    size: tuple[int, int],
) -> np.ndarray:
    """Version 2: ``img`` rendered at :func:`capture_size` gets the camera's tone, optical blur
    and gamma there, is upsampled (bilinear) to ``size``, then gets the noise; 8-bit out."""
    img = _tone(img, style, views)
    img = _binomial_blur(img, int(round(style.blur * img.shape[1] / 128.0)))
    img = _gamma(img, style.gamma)
    if img.shape[1:3] != size:
        img = _resize_axis(_resize_axis(img, size[0], 1), size[1], 2)
    return _to_uint8(img + noise * F(style.noise))


def _resize_axis(img: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Bilinear resampling of ``axis`` to ``n_out`` samples (pixel centres aligned)."""
    n_in = img.shape[axis]
    src = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    shape = [1] * img.ndim
    shape[axis] = n_out
    frac = (src - i0).astype(F).reshape(shape)
    return np.take(img, i0, axis=axis) * (F(1) - frac) + np.take(img, i1, axis=axis) * frac
