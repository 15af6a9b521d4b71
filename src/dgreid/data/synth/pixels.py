"""From shots to pixels and file bytes: one camera's batch of images, either generator version.

Identities are seeded from (seed, domain code, 0, identity), the per-image variation and noise
from (seed, domain code, 2, identity, image), so a pixel does not depend on the batch.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from dgreid.data.synth import attributes as A
from dgreid.data.synth import occluders
from dgreid.data.synth.attributes import Identity, View, sample_identity, sample_view
from dgreid.data.synth.domains import PALETTES, DomainSpec
from dgreid.data.synth.layouts import Shot
from dgreid.data.synth.render import draw_people
from dgreid.data.synth.scenes import N_RANDOMS, background, scene
from dgreid.data.synth.shifts import ShiftLevels
from dgreid.data.synth.styles import CameraStyle, capture, capture_size, finish

_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP"}

IdentityFn = Callable[[np.random.Generator], Identity]
ViewFn = Callable[[np.random.Generator, Shot], View]


def render_shots(
    spec: DomainSpec,
    style: CameraStyle,
    shots: Sequence[Shot],
    seed: int,
    size: tuple[int, int],
    levels: ShiftLevels | None = None,
) -> np.ndarray:
    """(B, H, W, 3) uint8 pixels of ``shots`` (all from one camera ``style``) before encoding:
    version 1 when ``levels`` is None, else version 2 at the domain's ``levels``."""
    if levels is None:
        return _render_v1(spec, style, shots, seed, size)
    return _render_v2(spec, style, shots, seed, size, levels)


def _render_v1(
    spec: DomainSpec, style: CameraStyle, shots: Sequence[Shot], seed: int, size: tuple[int, int]
) -> np.ndarray:
    palette = PALETTES[spec.palette]

    def view(rng: np.random.Generator, s: Shot) -> View:
        return sample_view(
            rng, s.view, s.facing, spec.scale, spec.jitter, spec.occlusion, spec.occ_size
        )

    persons, views, noise = _draw(
        spec, shots, seed, size, lambda rng: sample_identity(rng, palette), view
    )
    lab, shade, _ = draw_people(persons, views, *size)
    occluders.draw_v1(views, lab, *size)
    table = np.stack([p.colours for p in persons])  # (B, parts, 3)
    for i, vw in enumerate(views):
        table[i, -1] = vw.occ_colour
    img = _compose(lab, shade, table, background(views, style.background, *size))
    return finish(img, style, views, noise)


def _render_v2(
    spec: DomainSpec,
    style: CameraStyle,
    shots: Sequence[Shot],
    seed: int,
    size: tuple[int, int],
    levels: ShiftLevels,
) -> np.ndarray:
    pop = levels.population
    palette = PALETTES[pop.palette]

    def view(rng: np.random.Generator, s: Shot) -> View:
        return A.sample_view_v2(rng, s.view, s.facing, levels, N_RANDOMS)

    canvas = capture_size(size, style.res)
    persons, views, noise = _draw(
        spec, shots, seed, size, lambda rng: sample_identity(rng, palette, pop), view
    )
    lab, shade, _ = draw_people(persons, views, *canvas)
    occluders.draw_v2(views, lab, *canvas)
    occ = [(vw.occ_colour, vw.occ_colour2, vw.occ_skin) for vw in views]
    table = np.concatenate(
        [np.stack([p.colours[: A.OCCLUDER] for p in persons]), np.asarray(occ, np.float32)],
        axis=1,
    )
    img = _compose(lab, shade, table, scene(views, levels.background, *canvas))
    return capture(img, style, views, noise, size)


def _draw(
    spec: DomainSpec,
    shots: Sequence[Shot],
    seed: int,
    size: tuple[int, int],
    identity: IdentityFn,
    view: ViewFn,
) -> tuple[list[Identity], list[View], np.ndarray]:
    """Each shot's identity (drawn once per identity), per-image variation and N(0, 1) noise
    of ``size``."""
    people: dict[int, Identity] = {}
    views: list[View] = []
    noise = np.empty((len(shots), *size, 3), np.float32)
    for i, s in enumerate(shots):
        if s.key not in people:
            people[s.key] = identity(np.random.default_rng([seed, spec.code, 0, s.key]))
        rng = np.random.default_rng([seed, spec.code, 2, s.key, s.img])
        views.append(view(rng, s))
        noise[i] = rng.standard_normal((*size, 3), dtype=np.float32)
    return [people[s.key] for s in shots], views, noise


def _compose(lab: np.ndarray, shade: np.ndarray, table: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Gather each part's colour from ``table`` (B, parts, 3), shade it, put ``bg`` behind."""
    n = len(lab)
    flat = lab.astype(np.int32) + (np.arange(n, dtype=np.int32) * table.shape[1])[:, None, None]
    fg = np.take(table.reshape(-1, 3), flat, axis=0) * shade[..., None]
    return np.where((lab == 0)[..., None], bg, fg)


def encode(pixels: np.ndarray, ext: str, jpeg: int) -> bytes:
    """File bytes for one image; lossless formats get a JPEG round trip when ``jpeg`` > 0."""
    img = Image.fromarray(pixels)
    buf = io.BytesIO()
    fmt = _FORMATS[ext]
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=jpeg or 92)
        return buf.getvalue()
    if jpeg:
        img.save(buf, "JPEG", quality=jpeg)
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
        buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()
