"""Occluders painted over the part-label map, in pixel coordinates (fractions of the crop).

Version 1 paints flat shapes (luggage from below, a passer-by's edge at a side, a pole);
version 2 paints objects with a structure of their own: a car's bonnet with its windscreen or a
suitcase with its handle, a passer-by with head, coat and legs, a pole that may carry a sign.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dgreid.data.synth import attributes as A
from dgreid.data.synth.attributes import View

F = np.float32


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    yy = np.arange(height, dtype=F)[:, None] / F(height)
    xx = np.arange(width, dtype=F)[None, :] / F(width)
    return yy, xx


def draw_v1(views: Sequence[View], lab: np.ndarray, height: int, width: int) -> None:
    """Occluders in pixel coordinates: luggage from below, a passer-by at a side, a pole."""
    yy, xx = _grid(height, width)
    for i, vw in enumerate(views):
        if vw.occluder == 0:
            continue
        size, pos = F(vw.occ_size), F(vw.occ_pos)
        if vw.occluder == 1:
            m = (yy >= F(1) - size) & (np.abs(xx - pos) <= F(0.25) + size * F(0.5))
        elif vw.occluder == 2:
            m = (xx <= size * F(0.9)) if pos < 0.5 else (xx >= F(1) - size * F(0.9))
            m = m & (yy >= F(0.08) + pos * F(0.1))
        else:
            m = (np.abs(xx - pos) <= F(0.03) + size * F(0.08)) & (yy >= F(0))
        np.copyto(lab[i], np.int8(A.OCCLUDER), where=m)


def draw_v2(views: Sequence[View], lab: np.ndarray, height: int, width: int) -> None:
    """Version 2: an object at the bottom, a passer-by at a side, or a pole (``View.occluder``
    1, 2, 3), with parts in the colours ``OCCLUDER``, ``OCC2`` and ``OCC3``."""
    yy, xx = _grid(height, width)
    for i, vw in enumerate(views):
        if vw.occluder:
            painter = (_bottom_object, _passer_by, _pole)[vw.occluder - 1]
            for mask, part in painter(vw, yy, xx):
                np.copyto(lab[i], np.int8(part), where=mask)


Masks = list[tuple[np.ndarray, int]]


def _bottom_object(vw: View, yy: np.ndarray, xx: np.ndarray) -> Masks:
    """A parked car's bonnet (wide, with a windscreen band) or luggage (narrow, with a handle)."""
    size, pos, half = F(vw.occ_size), F(vw.occ_pos), F(0.12 + 0.33 * vw.occ_shape)
    inside = np.abs(xx - pos) <= half
    body = (yy >= F(1) - size) & inside
    if vw.occ_shape > 0.5:
        glass = body & (yy < F(1) - size * F(0.6)) & (np.abs(xx - pos) <= half - F(0.06))
        return [(body, A.OCCLUDER), (glass, A.OCC2)]
    handle = (np.abs(xx - pos) <= F(0.02)) & (yy >= F(0.88) - size) & (yy < F(1) - size)
    return [(body, A.OCCLUDER), (handle, A.OCC2)]


def _passer_by(vw: View, yy: np.ndarray, xx: np.ndarray) -> Masks:
    """Another person entering from a side, ``occ_size`` of the width in frame."""
    reach, half = F(vw.occ_size * 0.9), F(0.24)
    cx = reach - half if vw.occ_pos < 0.5 else F(1) - reach + half
    head_y = F(0.09 + 0.06 * vw.occ_shape)
    dx, dy = (xx - cx) / F(0.1), (yy - head_y) / F(0.065)
    head = (dx * dx + dy * dy) <= F(1)
    coat = (np.abs(xx - cx) <= half) & (yy >= head_y + F(0.05)) & (yy < F(0.6))
    legs = (np.abs(xx - cx) <= half * F(0.75)) & (yy >= F(0.6))
    return [(legs, A.OCC2), (coat, A.OCCLUDER), (head, A.OCC3)]


def _pole(vw: View, yy: np.ndarray, xx: np.ndarray) -> Masks:
    """A pole or a pillar; half of them carry a sign."""
    pos, half = F(vw.occ_pos), F(0.03) + F(vw.occ_size) * F(0.08)
    masks = [(np.abs(xx - pos) <= half + 0 * yy, A.OCCLUDER)]
    if vw.occ_shape > 0.5:
        top = F(0.05 + 0.3 * (vw.occ_shape - 0.5))
        sign = (np.abs(xx - pos) <= half * F(3.5)) & (yy >= top) & (yy < top + F(0.12))
        masks.append((sign, A.OCC2))
    return masks
