"""A contact sheet: one row per domain, a few identities each seen by two or three cameras."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dgreid.data.synth.domains import DOMAINS, DomainSpec, camera_styles
from dgreid.data.synth.layouts import Shot, plan_domain
from dgreid.data.synth.pixels import render_shots
from dgreid.data.synth.shifts import VERSION, ShiftLevels, check_version, parse_shifts
from dgreid.data.synth.writer import levels_for
from dgreid.utils.io import atomic_write_bytes

LABEL_W = 96
GAP = 6


def _pick(shots: Sequence[Shot], n_ids: int, per_id: int) -> list[Shot]:
    """The first ``n_ids`` identities seen by at least two cameras, one shot per camera."""
    by_key: dict[int, dict[int, Shot]] = {}
    for s in shots:
        if s.pid > 0 or s.key == 0:
            by_key.setdefault(s.key, {}).setdefault(s.cam, s)
    multi = [cams for cams in by_key.values() if len(cams) >= 2][:n_ids]
    return [s for cams in multi for s in list(cams.values())[:per_id]]


def preview_row(
    spec: DomainSpec,
    seed: int,
    size: tuple[int, int],
    n_ids: int,
    per_id: int,
    levels: ShiftLevels | None = None,
) -> np.ndarray:
    """(H, W', 3) strip of ``n_ids`` identities of ``spec``, a small gap between identities
    (version 1 when ``levels`` is None)."""
    styles = camera_styles(spec, seed, levels)
    picked = _pick(plan_domain(spec, seed, 1.0, levels).shots, n_ids, per_id)
    tiles = []
    for i, s in enumerate(picked):
        tiles.append(render_shots(spec, styles[s.cam], [s], seed, size, levels)[0])
        last_of_id = i + 1 == len(picked) or picked[i + 1].key != s.key
        if last_of_id:
            tiles.append(np.full((size[0], GAP, 3), 255, np.uint8))
    return np.concatenate(tiles, axis=1)


def render_preview(
    path: str | Path,
    seed: int = 0,
    size: tuple[int, int] = (128, 64),
    n_ids: int = 3,
    per_id: int = 3,
    domains: Sequence[DomainSpec] = DOMAINS,
    *,
    version: int = VERSION,
    shifts: Sequence[str] | str | None = None,
) -> Path:
    """Write the contact-sheet PNG to ``path``: domain name, then ``n_ids`` x ``per_id`` crops,
    rendered by generator ``version`` with ``shifts`` switched on (as ``render_benchmark``)."""
    on = parse_shifts(shifts, check_version(version))
    rows = [preview_row(d, seed, size, n_ids, per_id, levels_for(d, version, on)) for d in domains]
    width = LABEL_W + max(r.shape[1] for r in rows)
    sheet = Image.new("RGB", (width, len(rows) * (size[0] + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (spec, row) in enumerate(zip(domains, rows)):
        y = i * (size[0] + GAP)
        sheet.paste(Image.fromarray(row), (LABEL_W, y))
        draw.text((4, y + size[0] // 2 - 12), spec.name, fill="black")
        draw.text((4, y + size[0] // 2 + 2), f"({spec.role})", fill="grey")
    buf = io.BytesIO()
    sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        buf, "PNG", optimize=True
    )
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
