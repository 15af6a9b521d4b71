"""Version 2's per-domain levels of what version 1 did not vary between domains.

Where version 1 already had a per-domain value (camera styles, palette, person scale, crop
jitter, occlusion rate and size, scene family, resolution, blur, JPEG quality), version 2 keeps
it (``domains.spec_levels``). This table adds the rest, each entry following what is known of
the real network the domain is named after (docs/synthetic.md, "Version 2"):

- viewpoint: the cameras' view priors and how far they differ, stride and arm poses (queues and
  waiting halls stand; corridors see people walking towards or away);
- geometry: detector-like vertical offset and crop aspect (DPM boxes on Market-1501 and CUHK03,
  hand-drawn boxes on Duke and CUHK02, VIPeR's 48-pixel-wide crops resized to the output width);
- occlusion: what occludes (luggage and crowds at an airport or a station, parked cars outside);
- background: how cluttered and textured the scenes are;
- population: body shapes, hair, patterns and carried items of the people.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dgreid.data.synth.shifts import Background, Geometry, Occlusion, Population, Viewpoint


@dataclass(frozen=True)
class Profile:
    """The version-2-only part of a domain's levels; the rest comes from the domain spec."""

    viewpoint: Viewpoint = field(default_factory=Viewpoint)
    geometry: Geometry = field(default_factory=Geometry)  # its scale and jitter: from the spec
    occlusion: Occlusion = field(default_factory=Occlusion)  # rate and size: from the spec
    background: Background = field(default_factory=Background)  # scene: from the spec
    population: Population = field(default_factory=Population)  # palette: from the spec


_CAMPUS_BAGS = (0.3, 0.4, 0.15, 0.1, 0.05)
_PAIRS = ((0.45, 0.45, 0.1), (0.15, 0.15, 0.7))  # one camera of a pair frontal, one sideways

PROFILES: dict[str, Profile] = {
    "synth-market": Profile(
        Viewpoint(views=(0.35, 0.35, 0.3), spread=0.3, stride=(0.4, 1.0), poses=(0.85, 0.1, 0.05)),
        Geometry(shift=0.02, aspect=(0.9, 1.1)),
        Occlusion(kinds=(0.3, 0.4, 0.3)),
        Background(clutter=6, edges=0.3, texture=0.05),
        Population(width=(0.8, 1.15), hair=(0.45, 0.35, 0.1, 0.1), bag=_CAMPUS_BAGS,
                   logo=0.45, back_print=0.25),
    ),
    "synth-duke": Profile(
        Viewpoint(views=(0.3, 0.3, 0.4), spread=0.4, stride=(0.3, 1.0), poses=(0.7, 0.1, 0.2)),
        Geometry(shift=0.0, aspect=(0.85, 1.05)),
        Occlusion(kinds=(0.35, 0.5, 0.15)),
        Background(clutter=4, edges=0.2, texture=0.04),
        Population(width=(0.92, 1.3), hair=(0.4, 0.3, 0.2, 0.1),
                   bag=(0.25, 0.45, 0.15, 0.1, 0.05), logo=0.3, back_print=0.2),
    ),
    "synth-cuhk02": Profile(
        Viewpoint(cameras=_PAIRS * 5, stride=(0.4, 1.0)),
        Geometry(shift=-0.01, aspect=(1.0, 1.1)),
        Occlusion(kinds=(0.3, 0.4, 0.3)),
        Background(clutter=3, edges=0.15, texture=0.1),
        Population(height=(0.84, 0.98), width=(0.8, 1.15), bag=_CAMPUS_BAGS, logo=0.35),
    ),
    "synth-cuhk03": Profile(
        Viewpoint(views=(0.35, 0.35, 0.3), spread=0.5, stride=(0.3, 1.0)),
        Geometry(shift=0.03, aspect=(0.85, 1.15)),
        Occlusion(kinds=(0.25, 0.55, 0.2)),
        Background(clutter=5, edges=0.25, texture=0.08),
        Population(width=(0.8, 1.18), bag=(0.35, 0.35, 0.15, 0.1, 0.05)),
    ),
    "synth-grid": Profile(
        Viewpoint(views=(0.45, 0.4, 0.15), spread=0.3, stride=(0.1, 0.8), poses=(0.7, 0.1, 0.2)),
        Geometry(shift=-0.03, aspect=(0.9, 1.2)),
        Occlusion(kinds=(0.2, 0.6, 0.2)),
        Background(clutter=7, edges=0.35, texture=0.15),
        Population(width=(0.85, 1.25), hair=(0.5, 0.25, 0.1, 0.15),
                   bag=(0.3, 0.2, 0.3, 0.15, 0.05), logo=0.2, back_print=0.1),
    ),
    "synth-ilids": Profile(
        Viewpoint(views=(0.4, 0.3, 0.3), spread=0.3, stride=(0.0, 0.7), poses=(0.6, 0.2, 0.2)),
        Geometry(shift=0.0, aspect=(0.85, 1.15)),
        Occlusion(kinds=(0.5, 0.4, 0.1)),
        Background(clutter=8, edges=0.3, texture=0.05),
        Population(width=(0.85, 1.3), bag=(0.15, 0.25, 0.2, 0.15, 0.25), logo=0.3),
    ),
    "synth-prid": Profile(
        Viewpoint(cameras=((0.5, 0.3, 0.2), (0.2, 0.2, 0.6)), stride=(0.5, 1.0)),
        Geometry(shift=0.02, aspect=(0.95, 1.05)),
        Occlusion(kinds=(0.5, 0.2, 0.3)),
        Background(clutter=2, edges=0.15, texture=0.03),
        Population(bag=(0.4, 0.25, 0.2, 0.1, 0.05), back_print=0.15),
    ),
    "synth-viper": Profile(
        Viewpoint(stride=(0.4, 1.0), poses=(0.9, 0.05, 0.05)),  # cameras: the spec's views
        Geometry(shift=0.0, aspect=(1.25, 1.4)),
        Occlusion(kinds=(0.3, 0.3, 0.4)),
        Background(clutter=3, edges=0.2, texture=0.12),
        Population(bag=(0.35, 0.35, 0.15, 0.1, 0.05), logo=0.5, back_print=0.3),
    ),
}  # fmt: skip
