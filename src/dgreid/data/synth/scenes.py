"""Backgrounds: the scene behind the people.

Version 1 (:func:`background`): a scene family's wall and floor colours, vertical structures,
floor tiles and one large object. Version 2 (:func:`scene`) draws the same base with the
domain's edge and texture amplitudes, brick texture on the walls and up to ``clutter`` objects
(signs and windows on the wall, doors and shop fronts, distant people), stretched like the
person by the crop's aspect. Pixel arithmetic is elementwise, so an image does not depend on its
batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dgreid.data.synth.attributes import View
from dgreid.data.synth.shifts import Background

F = np.float32

Family = tuple[tuple[float, float, float], tuple[float, float, float], float, float, float]

#: Background families: upper colour, lower colour, vertical-structure amplitude, floor-tile
#: amplitude, horizon (fraction of the height) -- each jittered per image.
BACKGROUNDS: dict[str, Family] = {
    "street": ((0.62, 0.57, 0.5), (0.44, 0.44, 0.46), 0.28, 0.0, 0.62),
    "campus": ((0.44, 0.52, 0.4), (0.74, 0.74, 0.76), 0.18, 0.05, 0.55),
    "pavement": ((0.52, 0.54, 0.58), (0.62, 0.57, 0.5), 0.12, 0.1, 0.5),
    "indoor": ((0.78, 0.74, 0.66), (0.5, 0.42, 0.35), 0.1, 0.12, 0.6),
    "underground": ((0.36, 0.4, 0.34), (0.27, 0.27, 0.25), 0.2, 0.3, 0.55),
    "airport": ((0.86, 0.86, 0.9), (0.62, 0.6, 0.58), 0.22, 0.08, 0.65),
    "road": ((0.42, 0.5, 0.44), (0.38, 0.38, 0.4), 0.15, 0.0, 0.58),
    "garden": ((0.36, 0.5, 0.3), (0.55, 0.5, 0.42), 0.3, 0.0, 0.6),
    "neutral": ((0.58, 0.57, 0.55), (0.5, 0.5, 0.5), 0.2, 0.06, 0.58),  # version 2, switched off
}
#: Version 2: scene objects per image at most, and the per-image randoms a scene needs.
MAX_CLUTTER = 8
N_RANDOMS = 8 + 6 * MAX_CLUTTER


def _axes(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    yy = (np.arange(height, dtype=F) + F(0.5))[None, :, None] / F(height)
    xx = (np.arange(width, dtype=F) + F(0.5))[None, None, :] / F(width)
    return yy, xx


def background(views: Sequence[View], family: str, height: int, width: int) -> np.ndarray:
    """(B, H, W, 3) float32 scene behind the people: two regions, vertical structures, tiles."""
    r = np.array([vw.bg for vw in views], dtype=F)  # (B, 8) per-image randoms
    yy, xx = _axes(height, width)
    return _base(r, BACKGROUNDS[family], yy, xx)[0]


def _base(
    r: np.ndarray, family: Family, yy: np.ndarray, xx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The scene of ``family`` from 8 randoms per image; also the per-image horizon."""
    top_c, bot_c, amp, tiles, horizon = family
    b = r.shape[0]
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
    return np.where(obj[..., None], out * shade, out), hor


def scene(views: Sequence[View], level: Background, height: int, width: int) -> np.ndarray:
    """Version 2: (B, H, W, 3) float32 structured scene at the domain's ``level``."""
    r = np.array([vw.bg for vw in views], dtype=F)  # (B, N_RANDOMS)
    yy, xx = _axes(height, width)
    aspect = np.array([vw.aspect for vw in views], F).reshape(-1, 1, 1)
    xx = F(0.5) + (xx - F(0.5)) / aspect
    top_c, bot_c, _, _, horizon = BACKGROUNDS[level.scene]
    fam = (top_c, bot_c, level.edges, level.texture, horizon)
    out, hor = _base(r[:, :8], fam, yy, xx)
    rows = (yy - hor) * F(22)
    bricks = ((rows % F(1)) < F(0.1)) | (((xx * F(9) + F(0.5) * np.floor(rows)) % F(1)) < F(0.06))
    out = out * (F(1) - F(level.texture) * (bricks & (yy < hor)))[..., None]
    return _clutter(out, r[:, 8:], level, yy, xx, hor)


def _clutter(
    out: np.ndarray,
    r: np.ndarray,
    level: Background,
    yy: np.ndarray,
    xx: np.ndarray,
    hor: np.ndarray,
) -> np.ndarray:
    """Paint up to ``level.clutter`` objects (6 randoms each) with a darker border."""
    b = out.shape[0]
    idx = np.zeros(out.shape[:3], np.int8)
    table = np.zeros((b, 2 * MAX_CLUTTER + 1, 3), F)
    for k in range(min(level.clutter, MAX_CLUTTER)):
        q = [r[:, 6 * k + j].reshape(b, 1, 1) for j in range(6)]
        sign, person = q[0] < F(0.35), q[0] >= F(0.7)
        hw = np.where(person, F(0.025) + F(0.02) * q[3], F(0.04) + F(0.14) * q[3])
        hh = np.where(person, F(0.08) + F(0.06) * q[4], F(0.03) + F(0.12) * q[4])
        yc = np.where(sign, hor - F(0.12) - F(0.3) * q[2], hor + F(0.06) * q[2] * person - hh)
        dx, dy = np.abs(xx - q[1]), np.abs(yy - yc)
        box = (dx < hw) & (dy < hh)
        head = person & (dx < hw * F(0.7)) & (yy >= yc - hh - F(0.05)) & (yy < yc - hh)
        inner = (dx < hw - F(0.012)) & (dy < hh - F(0.008))
        idx = np.where(box | head, np.int8(2 * k + 2), idx)
        idx = np.where((box & inner) | head, np.int8(2 * k + 1), idx)
        table[:, 2 * k + 1] = _object_colour(q[0], q[5]).reshape(b, 3)
        table[:, 2 * k + 2] = table[:, 2 * k + 1] * F(1 - level.edges)
    flat = idx.astype(np.int32) + (np.arange(b, dtype=np.int32) * table.shape[1])[:, None, None]
    colour = np.take(table.reshape(-1, 3), flat, axis=0)
    return np.where((idx > 0)[..., None], colour, out)


def _object_colour(kind: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(B, 1, 1, 3): saturated signs, dim windows and doors, dark-clothed distant people."""
    hue = np.stack([u, (u * F(3.7)) % F(1), (u * F(7.3)) % F(1)], axis=-1)
    sign = F(0.15) + F(0.8) * hue
    dim = (F(0.2) + F(0.4) * u)[..., None] * (F(0.8) + F(0.2) * hue)
    person = (F(0.1) + F(0.35) * hue) * F(0.8)
    return np.where(
        (kind < F(0.35))[..., None], sign, np.where((kind >= F(0.7))[..., None], person, dim)
    )
