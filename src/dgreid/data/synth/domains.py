"""The eight synthetic domains: sizes, camera counts, clothing priors and style ranges.

Sources span moderate shifts (street/campus backgrounds, mild colour casts, some blur). Each
target adds a shift no source has: GRID is dark, noisy and low-resolution; PRID has a strong
colour cast between its two cameras; i-LIDS has heavy occlusion; VIPeR changes viewpoint
between its cameras (front/back vs side) under varied light. Version 2 turns these values and
``profiles.PROFILES`` into each domain's level of every shift family (:func:`domain_levels`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from dgreid.data.synth.attributes import Palette
from dgreid.data.synth.profiles import PROFILES, Profile
from dgreid.data.synth.shifts import RGB, Photometric, Resolution, ShiftLevels, Viewpoint
from dgreid.data.synth.styles import CameraStyle
from dgreid.errors import DgreidError

PALETTES: dict[str, Palette] = {
    "summer": Palette(
        "summer",
        upper={
            "white": 3,
            "red": 2,
            "yellow": 1.5,
            "pink": 1.5,
            "sky": 1.5,
            "orange": 1,
            "green": 1,
        },
        lower={"denim": 2, "black": 1.5, "khaki": 1.5, "white": 1, "beige": 1},
        short_sleeve=0.65,
        shorts=0.35,
        skirt=0.15,
    ),
    "winter": Palette(
        "winter",
        upper={"black": 4, "navy": 3, "charcoal": 3, "grey": 2, "maroon": 1, "brown": 1},
        lower={"black": 4, "navy": 2, "charcoal": 2, "denim": 2, "grey": 1},
        short_sleeve=0.05,
        shorts=0.02,
        skirt=0.05,
        rest=0.15,
    ),
    "campus": Palette(
        "campus",
        upper={"white": 2, "blue": 2, "grey": 1.5, "black": 1.5, "green": 1, "purple": 1},
        lower={"denim": 3, "black": 2, "grey": 1.5, "khaki": 1},
        short_sleeve=0.45,
        shorts=0.15,
        skirt=0.1,
    ),
    "mixed": Palette(
        "mixed",
        upper={"black": 1, "white": 1, "blue": 1, "red": 1, "grey": 1},
        lower={"black": 2, "denim": 2, "grey": 1},
        short_sleeve=0.35,
        shorts=0.15,
        skirt=0.1,
        rest=0.5,
    ),
    "commuter": Palette(
        "commuter",
        upper={"black": 3, "charcoal": 2, "navy": 2, "beige": 1.5, "olive": 1, "teal": 1},
        lower={"black": 3, "charcoal": 2, "denim": 1, "brown": 1},
        short_sleeve=0.2,
        shorts=0.05,
        skirt=0.1,
    ),
    "travel": Palette(
        "travel",
        upper={"beige": 2, "brown": 2, "olive": 1.5, "teal": 1.5, "white": 1, "black": 1},
        lower={"khaki": 2, "brown": 1.5, "black": 1.5, "denim": 1},
        short_sleeve=0.3,
        shorts=0.1,
        skirt=0.12,
    ),
    "bright": Palette(
        "bright",
        upper={"orange": 2, "purple": 2, "teal": 2, "yellow": 1.5, "pink": 1.5, "red": 1},
        lower={"denim": 2, "beige": 1.5, "white": 1, "olive": 1},
        short_sleeve=0.5,
        shorts=0.25,
        skirt=0.15,
    ),
    # Version 2's population switched off: every named colour equally likely.
    "neutral": Palette("neutral", upper={}, lower={}, short_sleeve=0.35, shorts=0.15, skirt=0.1,
                       rest=1.0),
}  # fmt: skip


@dataclass(frozen=True)
class StyleRange:
    """Ranges the per-camera styles of a domain are drawn from (seeded)."""

    background: str
    gain: tuple[float, float] = (0.9, 1.1)
    cast: float = 0.06  # per-channel white-balance spread between cameras
    saturation: tuple[float, float] = (0.85, 1.05)
    contrast: tuple[float, float] = (0.9, 1.1)
    gamma: tuple[float, float] = (0.9, 1.1)
    haze: tuple[float, float] = (0.0, 0.08)
    blur: tuple[int, int] = (0, 1)
    noise: tuple[float, float] = (0.01, 0.025)
    res: tuple[float, float] = (1.0, 1.4)
    jpeg: tuple[int, int] = (0, 0)
    wb: tuple[tuple[float, float, float], ...] = ()  # explicit per-camera casts (PRID)
    views: tuple[tuple[float, float, float], ...] = ()  # per-camera view priors (VIPeR)


@dataclass(frozen=True)
class DomainSpec:
    """One domain: layout, counts (at scale 1) and appearance priors."""

    name: str
    code: int  # stable seed component: renaming or reordering domains changes nothing
    role: str  # "source" or "target"
    layout: str
    cameras: int
    n_ids: int
    per_id: tuple[int, int] = (4, 10)
    palette: str = "mixed"
    style: StyleRange = field(default_factory=lambda: StyleRange("street"))
    occlusion: float = 0.1
    occ_size: tuple[float, float] = (0.1, 0.25)
    scale: tuple[float, float] = (0.8, 0.92)
    jitter: float = 0.04
    n_images: int = 0  # i-LIDS: fixed total
    n_ids_b: int = 0  # PRID: ids in camera B
    shared: int = 0  # PRID: ids seen by both cameras
    distractors: int = 0  # GRID: gallery-only distractors


DOMAINS: tuple[DomainSpec, ...] = (
    DomainSpec("synth-market", 1, "source", "market", 6, 340, (4, 9), "summer",
               StyleRange("street", jpeg=(70, 90), res=(1.0, 1.5)), 0.1),
    DomainSpec("synth-duke", 2, "source", "duke", 8, 340, (4, 9), "winter",
               StyleRange("campus", gain=(0.8, 1.0), jpeg=(85, 95), blur=(0, 0)), 0.2),
    DomainSpec("synth-cuhk02", 3, "source", "cuhk02", 10, 380, (4, 4), "campus",
               StyleRange("pavement", gain=(0.95, 1.15), cast=0.08), 0.05, scale=(0.86, 0.95)),
    DomainSpec("synth-cuhk03", 4, "source", "cuhk03", 6, 340, (4, 8), "mixed",
               StyleRange("indoor", gain=(0.8, 1.1), cast=0.08, blur=(1, 2), res=(1.2, 1.8)),
               0.12, jitter=0.07),
    DomainSpec("synth-grid", 5, "target", "grid", 2, 250, (2, 2), "commuter",
               StyleRange("underground", gain=(0.55, 0.7), cast=0.1, saturation=(0.55, 0.7),
                          contrast=(0.75, 0.85), gamma=(1.1, 1.3), blur=(1, 2),
                          noise=(0.03, 0.045), res=(2.6, 3.2), jpeg=(45, 60)),
               0.15, scale=(0.65, 0.85), jitter=0.06, distractors=775),
    DomainSpec("synth-ilids", 6, "target", "ilids", 3, 119, (2, 6), "travel",
               StyleRange("airport", jpeg=(60, 75), res=(1.3, 1.7)),
               0.85, occ_size=(0.25, 0.45), n_images=476),
    DomainSpec("synth-prid", 7, "target", "prid", 2, 385, (1, 1), "bright",
               StyleRange("road", cast=0.0, gamma=(0.8, 1.25),
                          wb=((1.28, 1.12, 0.62), (0.78, 0.86, 1.38))),
               0.05, n_ids_b=749, shared=200),
    DomainSpec("synth-viper", 8, "target", "viper", 2, 632, (2, 2), "bright",
               StyleRange("garden", gain=(0.75, 1.25), cast=0.1,
                          views=((0.5, 0.5, 0.0), (0.1, 0.1, 0.8))),
               0.08),
)  # fmt: skip


def get_domain(name: str) -> DomainSpec:
    """The spec named ``name`` (``synth-market`` ...); the error lists the valid names."""
    for d in DOMAINS:
        if d.name == name:
            return d
    raise DgreidError(
        f"unknown synthetic domain {name!r}; valid: {', '.join(d.name for d in DOMAINS)}"
    )


def spec_levels(spec: DomainSpec) -> ShiftLevels:
    """The domain's own level of every family: version 1's per-domain values, plus
    :data:`~dgreid.data.synth.profiles.PROFILES` for what version 1 did not vary."""
    st, prof = spec.style, PROFILES.get(spec.name, Profile())
    return ShiftLevels(
        photometric=Photometric(
            st.gain, st.cast, st.wb, st.saturation, st.contrast, st.gamma, st.haze, st.noise
        ),
        viewpoint=replace(prof.viewpoint, cameras=st.views) if st.views else prof.viewpoint,
        geometry=replace(prof.geometry, scale=spec.scale, jitter=spec.jitter),
        occlusion=replace(prof.occlusion, rate=spec.occlusion, size=spec.occ_size),
        background=replace(prof.background, scene=st.background),
        resolution=Resolution(st.res, st.blur, st.jpeg),
        population=replace(prof.population, palette=spec.palette),
    )


def domain_levels(spec: DomainSpec, shifts: Iterable[str]) -> ShiftLevels:
    """``spec``'s levels with the families not in ``shifts`` at the neutral level."""
    return spec_levels(spec).only(shifts)


def camera_styles(
    spec: DomainSpec, seed: int, levels: ShiftLevels | None = None
) -> list[CameraStyle]:
    """The seeded style of each camera of ``spec``: version 1's (``levels`` None) or drawn from
    version 2's ``levels``."""
    if levels is not None:
        return [_camera_style(spec.code, seed, cam, levels) for cam in range(spec.cameras)]
    st = spec.style
    out = []
    for cam in range(spec.cameras):
        rng = np.random.default_rng([seed, spec.code, 3, cam])
        wb = st.wb[cam] if st.wb else tuple(1 + rng.uniform(-st.cast, st.cast, 3))
        out.append(
            CameraStyle(
                gain=round(float(rng.uniform(*st.gain)), 4),
                wb=tuple(round(float(c), 4) for c in wb),  # type: ignore[arg-type]
                saturation=round(float(rng.uniform(*st.saturation)), 4),
                contrast=round(float(rng.uniform(*st.contrast)), 4),
                gamma=round(float(rng.uniform(*st.gamma)), 4),
                haze=round(float(rng.uniform(*st.haze)), 4),
                blur=int(rng.integers(st.blur[0], st.blur[1] + 1)),
                noise=round(float(rng.uniform(*st.noise)), 4),
                res=round(float(rng.uniform(*st.res)), 4),
                jpeg=int(rng.integers(st.jpeg[0], st.jpeg[1] + 1)),
                background=st.background,
                view_probs=st.views[cam] if st.views else (0.35, 0.35, 0.3),
            )
        )
    return out


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return round(float(rng.uniform(*bounds)), 4)


def _camera_style(code: int, seed: int, cam: int, lv: ShiftLevels) -> CameraStyle:
    """Version 2: each family draws from its own stream, so a switch changes only its family."""
    ph, rs = lv.photometric, lv.resolution
    rng = np.random.default_rng([seed, code, 3, cam])
    cast = 1 + rng.uniform(-ph.cast, ph.cast, 3)
    wb = ph.wb[cam % len(ph.wb)] if ph.wb else tuple(float(c) for c in cast)
    photo = {
        "gain": _uniform(rng, ph.gain),
        "wb": tuple(round(float(c), 4) for c in wb),
        "saturation": _uniform(rng, ph.saturation),
        "contrast": _uniform(rng, ph.contrast),
        "gamma": _uniform(rng, ph.gamma),
        "haze": _uniform(rng, ph.haze),
        "noise": _uniform(rng, ph.noise),
    }
    res_rng = np.random.default_rng([seed, code, 6, cam])
    return CameraStyle(
        **photo,  # type: ignore[arg-type]
        res=_uniform(res_rng, rs.res),
        blur=int(res_rng.integers(rs.blur[0], rs.blur[1] + 1)),
        jpeg=int(res_rng.integers(rs.jpeg[0], rs.jpeg[1] + 1)),
        background=lv.background.scene,
        view_probs=_camera_views(lv.viewpoint, cam, np.random.default_rng([seed, code, 7, cam])),
    )


def _camera_views(vp: Viewpoint, cam: int, rng: np.random.Generator) -> RGB:
    """A camera's front/back/side prior: explicit, or the domain's mean moved by ``spread``
    toward a random prior of the camera's own."""
    own = rng.dirichlet((1.0, 1.0, 1.0))
    if vp.cameras:
        return vp.cameras[cam % len(vp.cameras)]
    p = (1 - vp.spread) * np.asarray(vp.views) + vp.spread * own
    p = p / p.sum()
    return round(float(p[0]), 4), round(float(p[1]), 4), round(float(p[2]), 4)
