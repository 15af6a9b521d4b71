"""Identity attributes and per-image variation of the synthetic benchmark.

An identity is a seeded set of appearance attributes (garments, patterns, hair, skin, bag, body
shape). Colours come from a per-domain :class:`Palette`, so domains dress differently, while the
pattern and shape attributes follow one distribution everywhere: those are the cues that transfer.
In version 2 the shape prior too is the domain's (its :class:`~dgreid.data.synth.shifts.Population`)
and per-image variation is drawn from the domain's levels (:func:`sample_view_v2`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dgreid.data.synth.shifts import Population, ShiftLevels

# Part labels of the label map drawn by ``render``; each identity has one colour per part.
BG, SKIN, HAIR, UPPER, UPPER2, LOWER, LOWER2, SHOES, BAG, LOGO, CAP, OCCLUDER = range(12)
N_PARTS = 12
OCC2, OCC3 = 12, 13  # version 2's occluders: second colour, skin of a passer-by

#: Named garment colours (sRGB 0..255).
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (24, 24, 28),
    "charcoal": (58, 58, 64),
    "grey": (125, 125, 128),
    "silver": (188, 188, 192),
    "white": (236, 236, 232),
    "navy": (28, 38, 82),
    "blue": (38, 82, 172),
    "sky": (118, 168, 222),
    "denim": (66, 92, 138),
    "red": (182, 32, 36),
    "maroon": (108, 26, 36),
    "pink": (230, 136, 168),
    "orange": (232, 118, 30),
    "yellow": (236, 204, 48),
    "olive": (108, 110, 48),
    "green": (38, 132, 62),
    "teal": (28, 128, 130),
    "purple": (108, 58, 140),
    "brown": (108, 68, 38),
    "beige": (212, 190, 150),
    "khaki": (168, 148, 98),
}
SKINS = np.array([(244, 208, 178), (226, 182, 146), (198, 148, 110), (150, 102, 70), (98, 66, 46)])
HAIRS = np.array([(20, 16, 14), (52, 34, 22), (98, 64, 36), (196, 160, 92), (150, 146, 140)])
SHOE_COLOURS = ["black", "white", "brown", "grey", "navy", "red"]

# Attribute codes (the renderer reads these).
HAIR_SHORT, HAIR_LONG, HAIR_CAP, HAIR_BUZZ = range(4)
PAT_PLAIN, PAT_HSTRIPES, PAT_CHECKS, PAT_YOKE, PAT_JACKET, PAT_VSTRIPES = range(6)
LOW_TROUSERS, LOW_SHORTS, LOW_SKIRT = range(3)
BAG_NONE, BAG_BACKPACK, BAG_SHOULDER, BAG_HAND, BAG_CASE = range(5)  # case: version 2
VIEW_FRONT, VIEW_BACK, VIEW_SIDE = range(3)


@dataclass(frozen=True)
class Palette:
    """A domain's clothing prior: weights over :data:`COLOURS` (others get ``rest``)."""

    name: str
    upper: dict[str, float]
    lower: dict[str, float]
    short_sleeve: float
    shorts: float
    skirt: float
    rest: float = 0.3

    def draw(self, rng: np.random.Generator, which: str) -> np.ndarray:
        """One colour (float32 0..1) of the ``upper`` or ``lower`` prior, jittered per identity."""
        weights = self.upper if which == "upper" else self.lower
        names = list(COLOURS)
        p = np.array([weights.get(n, self.rest) for n in names], dtype=np.float64)
        name = names[int(rng.choice(len(names), p=p / p.sum()))]
        return jitter(rng, np.array(COLOURS[name], dtype=np.float64))


def jitter(rng: np.random.Generator, rgb: np.ndarray, amount: float = 0.08) -> np.ndarray:
    """Per-identity shade variation so two ids of the same named colour still differ."""
    out = rgb * rng.uniform(1 - amount, 1 + amount) * rng.uniform(1 - amount / 2, 1 + amount / 2, 3)
    return (np.clip(out, 0, 255) / 255.0).astype(np.float32)


@dataclass(frozen=True)
class Identity:
    """One person's appearance; ``colours`` is (N_PARTS, 3) float32 in 0..1."""

    colours: np.ndarray
    height: float
    width: float
    hair: int
    pattern: int
    period: float
    sleeve: float
    lower: int
    side_stripe: bool
    logo: int
    logo_size: float
    bag: int
    bag_side: int
    back_print: int = -1  # version 2: shape of a print on the back, -1 = none


#: Version 1's shape prior, the same in every domain (its palette name is not read).
V1_POPULATION = Population(palette="", bag=(0.35, 0.3, 0.2, 0.15), back_print=0.0)


def sample_identity(
    rng: np.random.Generator, palette: Palette, population: Population = V1_POPULATION
) -> Identity:
    """Draw one identity from the shape prior ``population`` and the colour ``palette``."""
    col = np.zeros((N_PARTS, 3), np.float32)
    col[SKIN] = jitter(rng, SKINS[rng.integers(len(SKINS))].astype(np.float64), 0.05)
    col[HAIR] = jitter(rng, HAIRS[rng.integers(len(HAIRS))].astype(np.float64), 0.1)
    col[UPPER] = palette.draw(rng, "upper")
    col[UPPER2] = _contrasting(rng, palette, col[UPPER])
    col[LOWER] = palette.draw(rng, "lower")
    col[LOWER2] = _contrasting(rng, palette, col[LOWER])
    col[SHOES] = jitter(
        rng, np.array(COLOURS[SHOE_COLOURS[rng.integers(len(SHOE_COLOURS))]], np.float64)
    )
    col[BAG] = palette.draw(rng, "lower" if rng.random() < 0.5 else "upper")
    col[LOGO] = _contrasting(rng, palette, col[UPPER])
    col[CAP] = palette.draw(rng, "upper")
    short = rng.random() < palette.short_sleeve
    u = rng.random()
    lower = (
        LOW_SKIRT if u < palette.skirt else LOW_SHORTS if u < palette.skirt + palette.shorts else 0
    )
    pop = population
    return Identity(
        colours=col,
        height=float(rng.uniform(*pop.height)),
        width=float(rng.uniform(*pop.width)),
        hair=int(rng.choice(len(pop.hair), p=pop.hair)),
        pattern=int(rng.choice(len(pop.pattern), p=pop.pattern)),
        period=float(rng.uniform(0.035, 0.07)),
        sleeve=float(rng.uniform(0.3, 0.45) if short else rng.uniform(0.9, 1.0)),
        lower=lower,
        side_stripe=bool(rng.random() < 0.2),
        logo=int(rng.integers(3)) if rng.random() < pop.logo else -1,
        logo_size=float(rng.uniform(0.03, 0.055)),
        bag=int(rng.choice(len(pop.bag), p=pop.bag)),
        bag_side=1 if rng.random() < 0.5 else -1,
        back_print=int(rng.integers(3)) if rng.random() < pop.back_print else -1,
    )


def _contrasting(rng: np.random.Generator, palette: Palette, base: np.ndarray) -> np.ndarray:
    """A second colour far enough from ``base`` that a pattern is visible."""
    for _ in range(8):
        c = palette.draw(rng, "upper")
        if float(np.abs(c - base).sum()) > 0.6:
            return c
    return np.where(base.mean() > 0.5, 0.1, 0.92).astype(np.float32) * np.ones(3, np.float32)


@dataclass(frozen=True)
class View:
    """Per-image variation of one identity: viewpoint, pose, framing, occlusion, background."""

    view: int
    facing: int  # +1 faces right, -1 faces left (side view); mirrors front/back details too
    phase: float  # walking phase in [-1, 1]
    cx: float  # person centre, fraction of the width
    top: float  # top of the head, fraction of the height
    scale: float  # person height, fraction of the image height
    light: float  # per-image illumination factor
    occluder: int  # 0 none, 1 from below, 2 from a side, 3 pole
    occ_pos: float
    occ_size: float
    occ_colour: tuple[float, float, float]
    bg: tuple[float, ...]  # background randoms (see scenes)
    # Version 2 only (version 1 leaves the defaults, which draw nothing new):
    aspect: float = 1.0  # horizontal stretch of the crop
    pose: int = 0  # arms: 0 swinging, 1 phone at the ear, 2 hands in pockets
    occ_shape: float = 0.0  # occluder variety (car or luggage, sign on a pole, ...)
    occ_colour2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    occ_skin: tuple[float, float, float] = (0.0, 0.0, 0.0)


def sample_view(
    rng: np.random.Generator,
    view: int,
    facing: int,
    scale: tuple[float, float],
    jitter_frac: float,
    occlusion: float,
    occ_size: tuple[float, float],
) -> View:
    """Draw the per-image variation; ``view`` and ``facing`` come from the plan."""
    s = float(rng.uniform(*scale))
    occ = int(rng.integers(1, 4)) if rng.random() < occlusion else 0
    return View(
        view=view,
        facing=facing,
        phase=float(rng.uniform(-1, 1)),
        cx=float(0.5 + rng.uniform(-1, 1) * jitter_frac),
        top=float((1 - s) * 0.5 + rng.uniform(-1, 1) * jitter_frac * 0.6),
        scale=s,
        light=float(rng.uniform(0.9, 1.1)),
        occluder=occ,
        occ_pos=float(rng.random()),
        occ_size=float(rng.uniform(*occ_size)),
        occ_colour=tuple(float(c) for c in rng.uniform(0.05, 0.8, 3)),  # type: ignore[arg-type]
        bg=tuple(float(c) for c in rng.random(8)),
    )


#: Per-image randoms of version 2, in a fixed layout so that each family's values come from
#: the same draws whatever the levels (a switch changes only its family): see sample_view_v2.
N_VIEW_RANDOMS = 24


def sample_view_v2(
    rng: np.random.Generator, view: int, facing: int, levels: ShiftLevels, n_bg: int
) -> View:
    """Version 2's per-image variation, drawn from the domain's ``levels``; ``n_bg`` randoms
    for the scene (``scenes.N_RANDOMS``)."""
    r = [float(x) for x in rng.random(N_VIEW_RANDOMS + n_bg)]
    geo, vp, occ = levels.geometry, levels.viewpoint, levels.occlusion
    s = _lerp(geo.scale, r[0])
    return View(
        view=view,
        facing=facing,
        phase=(2 * r[4] - 1) * _lerp(vp.stride, r[5]),
        cx=0.5 + (2 * r[1] - 1) * geo.jitter,
        top=(1 - s) * 0.5 + geo.shift + (2 * r[2] - 1) * geo.jitter * 0.6,
        scale=s,
        light=0.9 + 0.2 * r[7],
        occluder=1 + _index(occ.kinds, r[9]) if r[8] < occ.rate else 0,
        occ_pos=r[10],
        occ_size=_lerp(occ.size, r[11]),
        occ_colour=_rgb(r[12:15]),
        bg=tuple(r[N_VIEW_RANDOMS:]),
        aspect=_lerp(geo.aspect, r[3]),
        pose=_index(vp.poses, r[6]),
        occ_shape=r[15],
        occ_colour2=_rgb(r[16:19]),
        occ_skin=tuple(float(c) / 255 for c in SKINS[int(r[19] * len(SKINS))]),  # type: ignore[arg-type]
    )


def _lerp(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _index(probs: tuple[float, ...], u: float) -> int:
    """The category of uniform ``u`` under ``probs`` (need not sum exactly to 1)."""
    total, acc = sum(probs), 0.0
    for i, p in enumerate(probs):
        acc += p / total
        if u < acc:
            return i
    return len(probs) - 1


def _rgb(u: list[float]) -> tuple[float, float, float]:
    return (0.05 + 0.75 * u[0], 0.05 + 0.75 * u[1], 0.05 + 0.75 * u[2])
