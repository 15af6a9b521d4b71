"""Vectorised drawing of a batch of pedestrians as a part-label map.

Every image of a batch is drawn at once: per-image parameters are (B, 1, 1) arrays, the body
frame is ``u`` (B, 1, W) horizontally and ``v`` (B, H, 1) vertically in units of the person's
height (v = 0 at the top of the head, 1 at the soles), and each body part is a mask on that grid
painted over the label map in back-to-front order. Only elementwise IEEE arithmetic touches
pixels, so a pixel's value does not depend on which other images share its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dgreid.data.synth import attributes as A
from dgreid.data.synth.attributes import Identity, View

F = np.float32


@dataclass(frozen=True)
class _Frame:
    """The per-batch body frame and per-image (B, 1, 1) parameters the part painters share."""

    uu: np.ndarray
    v: np.ndarray
    w: np.ndarray
    phase: np.ndarray
    front: np.ndarray
    back: np.ndarray
    side: np.ndarray
    facing: np.ndarray
    half_top: np.ndarray
    half_bot: np.ndarray
    paint: Callable[[np.ndarray, object], None]


def _col(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=F).reshape(-1, 1, 1)


def _capsule(
    u: np.ndarray, v: np.ndarray, a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Position ``t`` along segment a->b (0..1), signed lateral offset and squared distance."""
    du, dv = b[0] - a[0], b[1] - a[1]
    inv = F(1) / (du * du + dv * dv)
    pu, pv = u - a[0], v - a[1]
    t = np.clip((pu * du + pv * dv) * inv, F(0), F(1))
    eu, ev = pu - t * du, pv - t * dv
    lateral = eu * dv - ev * du  # cross product: left/right of the segment (times its length)
    return t, lateral, eu * eu + ev * ev


def _ellipse(
    u: np.ndarray, v: np.ndarray, cu: object, cv: object, ru: object, rv: object
) -> np.ndarray:
    du = (u - cu) / ru  # type: ignore[operator]
    dv = (v - cv) / rv  # type: ignore[operator]
    return (du * du + dv * dv) <= F(1)


def draw_people(
    people: Sequence[Identity], views: Sequence[View], height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label map (B, H, W) int8 of parts (see ``attributes``), shading (B, H, W), body ``u``."""
    n = len(people)
    s = _col([p.height * vw.scale for p, vw in zip(people, views)]) * F(height)
    top = _col([vw.top + vw.scale * (1 - p.height) for p, vw in zip(people, views)]) * F(height)
    cx = _col([vw.cx for vw in views]) * F(width)
    s_u = s * _col([vw.aspect for vw in views])  # exactly ``s`` at version 1's aspect 1
    u = ((np.arange(width, dtype=F) + F(0.5))[None, None, :] - cx) / s_u
    v = ((np.arange(height, dtype=F) + F(0.5))[None, :, None] - top) / s
    view = np.array([vw.view for vw in views]).reshape(-1, 1, 1)
    front, back, side = view == A.VIEW_FRONT, view == A.VIEW_BACK, view == A.VIEW_SIDE
    facing = _col([vw.facing for vw in views])
    mirror = np.where(side, facing, np.where(back, F(-1), F(1))).astype(F)
    uu = u * mirror  # person frame: +uu is forward (side) or the person's left (front)
    w = _col([p.width for p in people])
    phase = _col([vw.phase for vw in views])
    half_top = F(0.125) * w * np.where(side, F(0.62), F(1))
    half_bot = F(0.105) * w * np.where(side, F(0.7), F(1))
    lab = np.zeros((n, height, width), np.int8)

    def paint(mask: np.ndarray, part: object) -> None:
        np.copyto(lab, np.asarray(part, np.int8), where=mask)

    hair = np.array([p.hair for p in people]).reshape(-1, 1, 1)
    long_hair = _ellipse(uu, v, F(-0.012) * side, F(0.15), F(0.068), F(0.13)) & (
        hair == A.HAIR_LONG
    )
    paint(long_hair & front, A.HAIR)

    # Limbs: front/back views spread them sideways, side views swing them along the walk.
    swing = phase * F(0.42)
    sin_a, cos_a = _sincos(swing)
    sleeve = _col([p.sleeve for p in people])
    arm_r2 = (F(0.03) * w) ** 2
    pose = np.array([vw.pose for vw in views]).reshape(-1, 1, 1)

    def arm(sign: float, near: bool) -> tuple[np.ndarray, np.ndarray]:
        su = np.where(side, F(0), F(sign) * (half_top - F(0.028)))
        hand_u = np.where(
            side,
            F(0.3) * sin_a * F(sign if near else -sign),
            F(sign) * (half_top + F(0.018) + F(0.012) * np.abs(phase)),
        )
        hand_v = np.where(side, F(0.2) + F(0.3) * cos_a, F(0.5))
        hand_u, hand_v = _posed_hand(pose, side, half_top, sign, near, hand_u, hand_v)
        t, _, d2 = _capsule(uu, v, (su, F(0.2) + 0 * su), (hand_u, hand_v))
        return d2 <= arm_r2, t < sleeve

    def paint_arm(mask: np.ndarray, covered: np.ndarray) -> None:
        paint(mask & covered, A.UPPER)
        paint(mask & ~covered, A.SKIN)

    far, far_cov = arm(1.0, near=False)
    paint_arm(far & side, far_cov)
    f = _Frame(uu, v, w, phase, front, back, side, facing, half_top, half_bot, paint)
    _draw_legs(people, f)
    torso = (
        (v >= F(0.2))
        & (v <= F(0.53))
        & (np.abs(u) <= half_top + (half_bot - half_top) * (v - F(0.2)) * F(1 / 0.33))
    )
    torso |= _ellipse(u, v, F(0), F(0.215), half_top, F(0.05))
    paint(torso, A.UPPER)
    bag = np.array([p.bag for p in people]).reshape(-1, 1, 1)
    pack_u = np.where(side, -half_top - F(0.03), F(0))
    pack_w = np.where(side, F(0.04), F(0.085)) * w
    backpack = (np.abs(uu - pack_u) <= pack_w) & (v >= F(0.2)) & (v <= F(0.46))
    paint(backpack & (bag == A.BAG_BACKPACK) & ~front, A.BAG)
    for sign in (-1.0, 1.0):
        m, cov = arm(sign, near=True)
        paint_arm(m & (~side | (sign > 0)), cov)
    _draw_head(people, f)
    paint(long_hair & ~front & (v >= F(0.1)), A.HAIR)
    _draw_bags(people, f)
    _draw_pattern(people, lab, f)
    _draw_logo(people, f)
    shade = np.clip(F(1.12) - F(12) * u * u, F(0.68), F(1.12)) * (F(1.04) - F(0.14) * v)
    return lab, shade, u


def _posed_hand(
    pose: np.ndarray,
    side: np.ndarray,
    half_top: np.ndarray,
    sign: float,
    near: bool,
    hand_u: np.ndarray,
    hand_v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Version 2's arm poses (``View.pose``): 1 raises the near right hand to the ear, 2 keeps
    both hands still at the hips; pose 0 (version 1) returns the walking hand unchanged."""
    if near and sign > 0:
        phone = pose == 1
        hand_u = np.where(phone, np.where(side, F(0.045), F(0.05)), hand_u)
        hand_v = np.where(phone, F(0.1), hand_v)
    still = pose == 2
    hand_u = np.where(still, np.where(side, F(0.01), F(sign) * (half_top + F(0.006))), hand_u)
    return hand_u, np.where(still, F(0.47), hand_v)


def _sincos(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sin/cos of small per-image angles via a short Taylor series (exact arithmetic only)."""
    x2 = x * x
    sin = x * (F(1) - x2 / F(6) * (F(1) - x2 / F(20)))
    cos = F(1) - x2 / F(2) * (F(1) - x2 / F(12) * (F(1) - x2 / F(30)))
    return sin, cos


def _draw_legs(people: Sequence[Identity], f: _Frame) -> None:
    uu, v, w, phase, side, half_bot, paint = f.uu, f.v, f.w, f.phase, f.side, f.half_bot, f.paint
    lower = np.array([p.lower for p in people]).reshape(-1, 1, 1)
    cover = np.where(lower == A.LOW_TROUSERS, F(1.01), np.where(lower == A.LOW_SHORTS, F(0.4), 0))
    stripe = np.array([p.side_stripe for p in people]).reshape(-1, 1, 1)
    sin_b, cos_b = _sincos(phase * F(0.36))
    r = F(0.045) * w
    for sign in (1.0, -1.0):
        hip_u = np.where(side, F(0), F(-sign) * F(0.052) * w)
        ank_u = np.where(side, F(0.41) * sin_b * F(sign), F(-sign) * (F(0.056) * w + F(0.015)))
        ank_v = np.where(side, F(0.52) + F(0.41) * cos_b, F(0.935))
        t, lat, d2 = _capsule(uu, v, (hip_u, F(0.52) + 0 * hip_u), (ank_u, ank_v))
        rad = r * (F(1) - F(0.3) * t)
        leg = d2 <= rad * rad
        clothed = leg & (t < cover)
        paint(leg & ~clothed, A.SKIN)
        paint(clothed, A.LOWER)
        outer = np.where(side, np.abs(lat) * F(2.4) < rad, lat * F(sign) * F(2.4) > rad * F(0.6))
        paint(clothed & stripe & outer, A.LOWER2)
        shoe_u = ank_u + np.where(side, F(0.025), F(0))  # shoes point forward
        shoe = _ellipse(
            uu, v, shoe_u, ank_v + F(0.022), np.where(side, F(0.05), F(0.034)), F(0.026)
        )
        paint(shoe, A.SHOES)
    pelvis = (np.abs(uu) <= half_bot) & (v >= F(0.5)) & (v <= F(0.6))
    paint(pelvis, A.LOWER)
    flare = half_bot * (F(1) + (v - F(0.5)) * F(2.6))
    skirt = (np.abs(uu) <= flare) & (v >= F(0.5)) & (v <= F(0.72)) & (lower == A.LOW_SKIRT)
    paint(skirt, A.LOWER)


def _draw_head(people: Sequence[Identity], f: _Frame) -> None:
    uu, v, back, side, paint = f.uu, f.v, f.back, f.side, f.paint
    hair = np.array([p.hair for p in people]).reshape(-1, 1, 1)
    head_u = np.where(side, F(0.008), F(0))
    paint((np.abs(uu) <= F(0.026)) & (v >= F(0.1)) & (v <= F(0.21)), A.SKIN)
    has_hair = (hair == A.HAIR_SHORT) | (hair == A.HAIR_LONG)
    paint(
        _ellipse(uu, v, head_u - F(0.004) * side, F(0.062), F(0.057), F(0.072)) & has_hair, A.HAIR
    )
    head = _ellipse(uu, v, head_u, F(0.068), F(0.05), F(0.068))
    paint(head, A.SKIN)
    cap_line = np.where(hair == A.HAIR_BUZZ, F(0.018), F(0.034))
    covered = (v < cap_line) | back | (side & (uu < head_u - F(0.01)))
    paint(head & covered & (hair != A.HAIR_CAP) & ((hair != A.HAIR_BUZZ) | (v < 0.04)), A.HAIR)
    cap = hair == A.HAIR_CAP
    paint(head & cap & ((v < F(0.04)) | (back & (v < F(0.09)))), A.CAP)
    paint(head & cap & back & (v >= F(0.04)), A.HAIR)
    brim_u0 = np.where(side, head_u, F(-0.06))
    brim = (uu >= brim_u0) & (uu <= head_u + F(0.07)) & (v >= F(0.03)) & (v <= F(0.048))
    paint(brim & cap & ~back, A.CAP)


def _draw_bags(people: Sequence[Identity], f: _Frame) -> None:
    uu, v, w, front, side, paint = f.uu, f.v, f.w, f.front, f.side, f.paint
    bag = np.array([p.bag for p in people]).reshape(-1, 1, 1)
    facing, half_top, half_bot = f.facing, f.half_top, f.half_bot
    bag_side = np.array([p.bag_side for p in people], dtype=F).reshape(-1, 1, 1)
    visible = ~side | (bag_side == facing)
    strap_u = np.where(side, F(0), -bag_side * F(0.06) - (v - F(0.2)) * bag_side * F(-0.5))
    strap = (np.abs(uu - strap_u) <= F(0.011)) & (v >= F(0.18)) & (v <= F(0.46))
    strap = strap & (np.abs(uu) <= half_top + F(0.01))
    paint(strap & (bag == A.BAG_SHOULDER) & visible, A.BAG)
    bag_u = np.where(side, F(-0.01), bag_side * (half_bot + F(0.035)))
    body = (np.abs(uu - bag_u) <= F(0.045)) & (v >= F(0.44)) & (v <= F(0.6))
    paint(body & (bag == A.BAG_SHOULDER) & visible, A.BAG)
    hand_u = np.where(side, F(0.03), bag_side * (half_top + F(0.035)))
    hand = (np.abs(uu - hand_u) <= F(0.04)) & (v >= F(0.5)) & (v <= F(0.64))
    paint(hand & (bag == A.BAG_HAND) & visible, A.BAG)
    if (bag == A.BAG_CASE).any():  # version 2: a trolley case beside (or pulled behind) them
        case_u = np.where(side, F(-0.17), bag_side * (half_bot + F(0.11)))
        case = (np.abs(uu - case_u) <= F(0.055)) & (v >= F(0.74)) & (v <= F(0.98))
        handle_u = case_u + F(0.04) * np.where(side, F(1), -bag_side)
        handle = (np.abs(uu - handle_u) <= F(0.01)) & (v >= F(0.56)) & (v < F(0.74))
        paint((case | handle) & (bag == A.BAG_CASE), A.BAG)
    straps = (np.abs(np.abs(uu) - F(0.055) * w) <= F(0.011)) & (v >= F(0.17)) & (v <= F(0.36))
    paint(straps & (bag == A.BAG_BACKPACK) & front, A.BAG)


def _draw_pattern(people: Sequence[Identity], lab: np.ndarray, f: _Frame) -> None:
    uu, v, front = f.uu, f.v, f.front
    pat = np.array([p.pattern for p in people]).reshape(-1, 1, 1)
    period = _col([p.period for p in people])
    hs = ((v / period) % F(1)) < F(0.5)
    vs = ((uu / (period * F(1.2)) + F(0.25)) % F(1)) < F(0.45)
    mask = (pat == A.PAT_HSTRIPES) & hs
    mask = mask | ((pat == A.PAT_CHECKS) & (hs ^ vs))
    mask = mask | ((pat == A.PAT_VSTRIPES) & vs)
    mask = mask | ((pat == A.PAT_YOKE) & (v < F(0.31)))
    mask = mask | ((pat == A.PAT_JACKET) & front & (np.abs(uu) < F(0.032)) & (v > F(0.19)))
    np.copyto(lab, np.int8(A.UPPER2), where=mask & (lab == A.UPPER))


def _draw_logo(people: Sequence[Identity], f: _Frame) -> None:
    uu, v, front, paint = f.uu, f.v, f.front, f.paint
    shape = np.array([p.logo for p in people]).reshape(-1, 1, 1)
    r = _col([p.logo_size for p in people])
    du, dv = np.abs(uu - F(0.0)), np.abs(v - F(0.3))
    circle = (du * du + dv * dv) <= r * r
    square = (du <= r * F(0.85)) & (dv <= r * F(0.85))
    diamond = (du + dv) <= r * F(1.2)
    mask = ((shape == 0) & circle) | ((shape == 1) & square) | ((shape == 2) & diamond)
    paint(mask & front, A.LOGO)
    prints = np.array([p.back_print for p in people]).reshape(-1, 1, 1)
    if (prints >= 0).any():  # version 2: a print on the back, seen only from behind
        band = (du <= F(0.075)) & (dv <= F(0.028))
        disc = (du * du + dv * dv) <= F(0.06 * 0.06)
        block = (du <= F(0.06)) & (np.abs(v - F(0.33)) <= F(0.07))
        mask = ((prints == 0) & band) | ((prints == 1) & disc) | ((prints == 2) & block)
        paint(mask & f.back, A.LOGO)
