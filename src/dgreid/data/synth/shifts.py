"""Generator versions and the families of domain shift of version 2, each a switch.

A *family* is one way two camera networks differ (light and colour, viewpoint, framing,
occlusion, scene, resolution, who walks there). In version 2 every domain has its own *level* of
each family (:class:`ShiftLevels`, built from the domain spec in ``domains.domain_levels``); a
level is a set of ranges and rates that cameras and images draw from. A family switched off
gets :data:`NEUTRAL`'s level in every domain: the variation within a domain stays, the
difference between domains goes, and no image is removed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from dgreid.errors import DgreidError, UnknownNameError

#: The generator a render uses by default; bumped whenever what it renders for a seed changes.
VERSION = 3
#: Versions that can still be rendered (version 1 byte-identical to the original generator).
VERSIONS = (1, 2, 3)
#: Version 3's calibration of the photometric family on real cameras, ``(light, colour,
#: domain)``: how much of version 2's departures it keeps, for a camera's light and its colour
#: from its domain's centre, and for the domain's centre from neutral
#: (:meth:`Photometric.calibrated`). Set so that ``bench/camera_stats.py`` measures the
#: synthetic sources' cameras and domains as far apart as real ones (docs/synthetic.md,
#: "Version 3"), never from a method's result.
CALIBRATION = {3: (0.8, 0.5, 0.5)}
#: Version 2's shift families, in canonical order (``--shifts``, ``data.synth_shifts``).
FAMILIES = (
    "photometric",
    "viewpoint",
    "geometry",
    "occlusion",
    "background",
    "resolution",
    "population",
)
#: Keywords ``parse_shifts`` accepts besides family names.
ALL, NONE = "all", "none"

Range = tuple[float, float]
RGB = tuple[float, float, float]


#: A generic camera's per-channel white-balance spread (version 2, before calibration).
GENERIC_CAST = 0.06


def _scaled_casts(wb: tuple[RGB, ...], limit: float) -> tuple[RGB, ...]:
    """``wb`` with every departure from 1 scaled by one factor, so the largest is ``limit``."""
    most = max((abs(c - 1) for rgb in wb for c in rgb), default=0.0)
    if most == 0.0:
        return wb
    k = limit / most
    return tuple(
        (round(1 + k * (r - 1), 4), round(1 + k * (g - 1), 4), round(1 + k * (b - 1), 4))
        for r, g, b in wb
    )


@dataclass(frozen=True)
class Photometric:
    """Illumination, white balance, tone and sensor noise: each camera draws its values here."""

    gain: Range = (0.9, 1.1)
    cast: float = GENERIC_CAST  # per-channel white-balance spread between cameras
    wb: tuple[RGB, ...] = ()  # explicit per-camera casts (replace ``cast``)
    saturation: Range = (0.85, 1.05)
    contrast: Range = (0.9, 1.1)
    gamma: Range = (0.9, 1.1)
    haze: Range = (0.0, 0.08)
    noise: Range = (0.01, 0.025)

    def calibrated(self, light: float, colour: float, domain: float) -> Photometric:
        """These levels with each camera's departure from its domain's centre scaled: by
        ``light`` for gain, contrast, gamma and haze, by ``colour`` for the cast and saturation;
        and each range's centre moved toward 1 by ``domain`` (1 = unchanged). Explicit white
        balances keep their direction, scaled so that their largest channel departs from 1 by
        the most a calibrated generic camera can (``colour`` times the default cast). Sensor
        noise, which the resolution family sets with blur, stays."""

        def rng(r: Range, camera: float) -> Range:
            centre, half = (r[0] + r[1]) / 2, (r[1] - r[0]) / 2
            centre = 1 + domain * (centre - 1)
            return round(centre - camera * half, 4), round(centre + camera * half, 4)

        return dataclasses.replace(
            self,
            gain=rng(self.gain, light),
            cast=round(colour * self.cast, 4),
            wb=_scaled_casts(self.wb, colour * GENERIC_CAST),
            saturation=rng(self.saturation, colour),
            contrast=rng(self.contrast, light),
            gamma=rng(self.gamma, light),
            haze=(round(light * self.haze[0], 4), round(light * self.haze[1], 4)),
        )


@dataclass(frozen=True)
class Viewpoint:
    """Which side of people the cameras see, and how they move."""

    views: RGB = (0.35, 0.35, 0.3)  # front, back, side: the domain's mean prior
    cameras: tuple[RGB, ...] = ()  # explicit per-camera priors (replace ``views``)
    spread: float = 0.0  # 0 = every camera has ``views``; 1 = each its own random prior
    stride: Range = (0.3, 1.0)  # walking amplitude (0 = standing still)
    poses: RGB = (0.8, 0.1, 0.1)  # arms: swinging, a phone at the ear, hands in pockets


@dataclass(frozen=True)
class Geometry:
    """Framing by the detector or annotator: person size, offsets, crop aspect ratio."""

    scale: Range = (0.8, 0.92)  # person height / crop height
    shift: float = 0.0  # mean vertical offset of the person, fraction of the height (+ down)
    jitter: float = 0.04  # horizontal misalignment (vertical: 0.6 times this)
    aspect: Range = (0.95, 1.05)  # horizontal stretch of the crop when resized to the output


@dataclass(frozen=True)
class Occlusion:
    """How often something stands between camera and person, how big, and what."""

    rate: float = 0.12
    size: Range = (0.1, 0.25)  # fraction of the crop
    kinds: RGB = (1 / 3, 1 / 3, 1 / 3)  # object at the bottom, passer-by at a side, pole


@dataclass(frozen=True)
class Background:
    """Scene statistics: colour family (``styles.BACKGROUNDS``), clutter, edges, texture."""

    scene: str = "neutral"
    clutter: int = 4  # at most this many scene objects (signs, windows, distant people)
    edges: float = 0.2  # contrast of vertical structures and object borders
    texture: float = 0.06  # amplitude of brick / tile texture


@dataclass(frozen=True)
class Resolution:
    """Capture resolution (rendered that much smaller, then upsampled), blur, JPEG quality.

    ``res`` and ``blur`` are given for a 128-pixel-high image; ``jpeg`` 0 = lossless formats stay
    lossless and JPEG files get quality 92 (version 1's rule)."""

    res: Range = (1.0, 1.4)
    blur: tuple[int, int] = (0, 1)
    jpeg: tuple[int, int] = (88, 92)


@dataclass(frozen=True)
class Population:
    """Who walks in the network: clothing colours and cuts (``palette``), body shapes, hair,
    patterns, carried items. Probabilities follow the codes of ``attributes``."""

    palette: str = "neutral"
    height: Range = (0.86, 1.0)
    width: Range = (0.82, 1.22)
    hair: tuple[float, ...] = (0.45, 0.3, 0.15, 0.1)  # short, long, cap, buzz
    pattern: tuple[float, ...] = (0.3, 0.16, 0.14, 0.14, 0.14, 0.12)
    bag: tuple[float, ...] = (0.33, 0.3, 0.2, 0.12, 0.05)  # none, backpack, shoulder, hand, case
    logo: float = 0.4  # front logo
    back_print: float = 0.2  # a print on the back (visible only from behind)


@dataclass(frozen=True)
class ShiftLevels:
    """One domain's level of every family (version 2)."""

    photometric: Photometric = field(default_factory=Photometric)
    viewpoint: Viewpoint = field(default_factory=Viewpoint)
    geometry: Geometry = field(default_factory=Geometry)
    occlusion: Occlusion = field(default_factory=Occlusion)
    background: Background = field(default_factory=Background)
    resolution: Resolution = field(default_factory=Resolution)
    population: Population = field(default_factory=Population)

    def only(self, shifts: Iterable[str]) -> ShiftLevels:
        """These levels with every family not in ``shifts`` at its neutral level."""
        keep = set(shifts)
        return dataclasses.replace(
            self, **{f: getattr(NEUTRAL, f) for f in FAMILIES if f not in keep}
        )

    def to_dict(self) -> dict[str, dict[str, object]]:
        """Plain data for the manifest (tuples as lists)."""
        return _plain(dataclasses.asdict(self))  # type: ignore[return-value]


#: The level every domain gets of a family that is switched off.
NEUTRAL = ShiftLevels()


def _plain(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [_plain(v) for v in obj]
    return obj


def check_version(version: int) -> int:
    """``version`` if it can be rendered, else an error naming the valid ones."""
    if version not in VERSIONS:
        raise DgreidError(
            f"synthetic benchmark version {version!r} does not exist; valid: "
            + ", ".join(str(v) for v in VERSIONS)
        )
    return version


def parse_shifts(names: Iterable[str] | str | None, version: int = VERSION) -> tuple[str, ...]:
    """The switched-on families, in canonical order, from names such as ``viewpoint,geometry``.

    ``None`` and ``all`` mean every family of ``version``, ``none`` (or an empty list) none.
    Version 1 has no switches: it accepts only ``None``/``all``/``none`` and returns ``()``.
    """
    check_version(version)
    if isinstance(names, str):
        names = names.split(",")
    items = [n.strip().lower() for n in (names if names is not None else [ALL]) if n.strip()]
    on: set[str] = set()
    for name in items:
        if name == ALL:
            on.update(FAMILIES)
        elif name in FAMILIES:
            on.add(name)
        elif name != NONE:
            raise UnknownNameError(
                f"unknown synthetic shift family {name!r}; valid: {', '.join(FAMILIES)} "
                f"(or {ALL} / {NONE})"
            )
    if version == 1:
        if on and on != set(FAMILIES):
            raise DgreidError(
                "synthetic benchmark version 1 has no shift switches; they are version 2's "
                f"(asked for: {', '.join(f for f in FAMILIES if f in on)})"
            )
        return ()
    return tuple(f for f in FAMILIES if f in on)


def without(shifts: Iterable[str], off: Iterable[str]) -> tuple[str, ...]:
    """``shifts`` less the families named in ``off`` (each checked like ``parse_shifts``)."""
    drop = set(parse_shifts(list(off)))
    return tuple(f for f in shifts if f not in drop)
