"""Identity attributes and per-image variation of the synthetic benchmark.

An identity is a seeded set of appearance attributes (garments, patterns, hair, skin, bag, body
shape). Colours come from a per-domain :class:`Palette`, so domains dress differently, while the
pattern and shape attributes follow one distribution everywhere: those are the cues that transfer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Part labels of the label map drawn by ``render``; each identity has one colour per part.
BG, SKIN, HAIR, UPPER, UPPER2, LOWER, LOWER2, SHOES, BAG, LOGO, CAP, OCCLUDER = range(12)
N_PARTS = 12

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
BAG_NONE, BAG_BACKPACK, BAG_SHOULDER, BAG_HAND = range(4)
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


def sample_identity(rng: np.random.Generator, palette: Palette) -> Identity:
    """Draw one identity from the shared shape prior and the domain's colour ``palette``."""
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
    return Identity(
        colours=col,
        height=float(rng.uniform(0.86, 1.0)),
        width=float(rng.uniform(0.82, 1.22)),
        hair=int(rng.choice(4, p=[0.45, 0.3, 0.15, 0.1])),
        pattern=int(rng.choice(6, p=[0.3, 0.16, 0.14, 0.14, 0.14, 0.12])),
        period=float(rng.uniform(0.035, 0.07)),
        sleeve=float(rng.uniform(0.3, 0.45) if short else rng.uniform(0.9, 1.0)),
        lower=lower,
        side_stripe=bool(rng.random() < 0.2),
        logo=int(rng.integers(3)) if rng.random() < 0.4 else -1,
        logo_size=float(rng.uniform(0.03, 0.055)),
        bag=int(rng.choice(4, p=[0.35, 0.3, 0.2, 0.15])),
        bag_side=1 if rng.random() < 0.5 else -1,
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
    bg: tuple[float, ...]  # background randoms (see styles.background)


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
