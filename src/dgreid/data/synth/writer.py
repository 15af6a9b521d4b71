"""Render domains to disk (in parallel, deterministically) and keep the ``synth.json`` manifest.

Each image is seeded from (seed, domain code, identity, image), so the bytes of a file do not
depend on chunking, worker count or order. A domain is written into a hidden ``.partial`` folder
and renamed into place when complete; ``synth.json`` is written last, so a tree with a manifest is
always complete.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dgreid.data.synth.domains import DOMAINS, DomainSpec, camera_styles, domain_levels, get_domain
from dgreid.data.synth.layouts import Plan, Shot, n_ids_at_scale, plan_domain
from dgreid.data.synth.pixels import encode, render_shots
from dgreid.data.synth.shifts import (
    CALIBRATION,
    VERSION,
    ShiftLevels,
    check_version,
    parse_shifts,
)
from dgreid.data.synth.styles import CameraStyle
from dgreid.errors import DgreidError
from dgreid.utils.io import atomic_write_json
from dgreid.utils.progress import progress_bar

log = logging.getLogger(__name__)

MANIFEST = "synth.json"
CHUNK = 96
_LOADER_CAMS = {"ilids": 1}  # i-LIDS camids are all 0; its camera styles are internal


@dataclass(frozen=True)
class _Task:
    spec: DomainSpec
    style: CameraStyle
    shots: tuple[Shot, ...]
    seed: int
    size: tuple[int, int]
    folder: str
    levels: ShiftLevels | None


def _run_task(task: _Task) -> int:
    pixels = render_shots(task.spec, task.style, task.shots, task.seed, task.size, task.levels)
    for shot, px in zip(task.shots, pixels):
        data = encode(px, os.path.splitext(shot.path)[1], task.style.jpeg)
        with open(os.path.join(task.folder, shot.path), "wb") as f:
            f.write(data)
    return len(task.shots)


def _tasks(
    spec: DomainSpec,
    plan: Plan,
    seed: int,
    size: tuple[int, int],
    folder: str,
    levels: ShiftLevels | None,
) -> Iterator[_Task]:
    styles = camera_styles(spec, seed, levels)
    for cam, style in enumerate(styles):
        shots = [s for s in plan.shots if s.cam == cam]
        for i in range(0, len(shots), CHUNK):
            yield _Task(spec, style, tuple(shots[i : i + CHUNK]), seed, size, folder, levels)


def _resolve(domains: Sequence[str | DomainSpec] | None) -> list[DomainSpec]:
    if domains is None:
        return list(DOMAINS)
    return [d if isinstance(d, DomainSpec) else get_domain(d) for d in domains]


def levels_for(spec: DomainSpec, version: int, shifts: Sequence[str]) -> ShiftLevels | None:
    """What the renderer draws ``spec`` at: None for version 1, else its shift levels, with
    version 3's photometric calibration (:data:`~dgreid.data.synth.shifts.CALIBRATION`)."""
    if version == 1:
        return None
    levels = domain_levels(spec, shifts)
    if version in CALIBRATION:
        levels = replace(levels, photometric=levels.photometric.calibrated(*CALIBRATION[version]))
    return levels


def build_manifest(
    specs: Sequence[DomainSpec],
    plans: Sequence[Plan],
    seed: int,
    scale: float,
    size: tuple[int, int],
    version: int = VERSION,
    shifts: Sequence[str] = (),
) -> dict:
    """The ``synth.json`` content for these plans (no rendering needed). Version 1's is the
    original generator's, byte for byte; version 2 adds ``shifts`` and each domain's levels."""
    out: dict = {"version": version}
    if version > 1:
        out["shifts"] = list(shifts)
    out.update({"seed": seed, "scale": scale, "size": list(size), "domains": {}})
    for spec, plan in zip(specs, plans):
        levels = levels_for(spec, version, shifts)
        info = {
            "role": spec.role,
            "layout": spec.layout,
            "images": len(plan.shots),
            "cameras": _LOADER_CAMS.get(spec.layout, spec.cameras),
            **plan.counts,
            "palette": levels.population.palette if levels else spec.palette,
            "occlusion": levels.occlusion.rate if levels else spec.occlusion,
        }
        if levels:
            info["levels"] = levels.to_dict()
        info["camera_styles"] = [s.to_dict() for s in camera_styles(spec, seed, levels)]
        out["domains"][spec.name] = info
    return out


def render_benchmark(
    out_dir: str | Path,
    seed: int = 0,
    scale: float = 1.0,
    size: tuple[int, int] = (128, 64),
    domains: Sequence[str | DomainSpec] | None = None,
    progress: bool = True,
    workers: int | None = None,
    *,
    version: int = VERSION,
    shifts: Sequence[str] | str | None = None,
) -> dict:
    """Render ``domains`` (default: all eight) into ``out_dir/synth-<name>/``; return the manifest.

    ``domains`` may hold names or :class:`DomainSpec` objects (tests pass shrunken specs).
    ``workers`` defaults to min(2, CPUs); the output is identical for any value. ``version``
    picks the generator; ``shifts`` the switched-on families of version 2 (None = all; see
    :func:`~dgreid.data.synth.shifts.parse_shifts`).
    """
    if scale <= 0 or size[0] < 16 or size[1] < 8:
        raise DgreidError(f"synth: need scale > 0 and size >= 16x8, got scale={scale} size={size}")
    on = parse_shifts(shifts, check_version(version))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    specs = _resolve(domains)
    levels = [levels_for(s, version, on) for s in specs]
    plans = [plan_domain(s, seed, scale, lv) for s, lv in zip(specs, levels)]
    tasks: list[_Task] = []
    for spec, plan, lv in zip(specs, plans, levels):
        part = out / f".{spec.name}.partial"
        shutil.rmtree(part, ignore_errors=True)
        for sub in sorted({os.path.dirname(s.path) for s in plan.shots}):
            (part / sub).mkdir(parents=True, exist_ok=True)
        tasks.extend(_tasks(spec, plan, seed, size, str(part), lv))
    total = sum(len(p.shots) for p in plans)
    _execute(tasks, total, progress, workers or min(2, os.cpu_count() or 1))
    for spec in specs:
        final = out / spec.name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(out / f".{spec.name}.partial", final)
    manifest = build_manifest(specs, plans, seed, scale, size, version, on)
    atomic_write_json(out / MANIFEST, manifest)
    return manifest


def _execute(tasks: list[_Task], total: int, progress: bool, workers: int) -> None:
    bar = progress_bar(total=total, unit="img", desc="synth", disable=not progress)
    if workers <= 1:
        for t in tasks:
            bar.update(_run_task(t))
    else:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with mp.get_context(method).Pool(workers) as pool:
            for n in pool.imap_unordered(_run_task, tasks):
                bar.update(n)
    bar.close()


def read_manifest(root: str | Path) -> dict | None:
    """The ``synth.json`` of ``root``, or None when there is none (or it is unreadable)."""
    try:
        found = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def generator_of(manifest: dict) -> tuple[int, tuple[str, ...]]:
    """The (version, switched-on shifts) a manifest was rendered with."""
    return int(manifest.get("version", 0)), tuple(manifest.get("shifts", ()))


def describe_generator(version: int, shifts: Sequence[str]) -> str:
    """``version 2 with shifts photometric, viewpoint`` (or ``version 1``) for messages."""
    if version < 2:
        return f"version {version}"
    return f"version {version} with shifts {', '.join(shifts) or 'none'}"


def ensure_benchmark(
    out_dir: str | Path,
    seed: int = 0,
    scale: float = 1.0,
    size: tuple[int, int] = (128, 64),
    domains: Sequence[str | DomainSpec] | None = None,
    progress: bool = True,
    *,
    version: int = VERSION,
    shifts: Sequence[str] | str | None = None,
) -> dict:
    """Reuse ``out_dir`` when its ``synth.json`` matches what would be rendered, else render
    (a tree of another version or other shifts is rendered again, and the log says so)."""
    on = parse_shifts(shifts, check_version(version))
    specs = _resolve(domains)
    plans = [plan_domain(s, seed, scale, levels_for(s, version, on)) for s in specs]
    expected = build_manifest(specs, plans, seed, scale, size, version, on)
    found = read_manifest(out_dir)
    if found is not None and found == json.loads(json.dumps(expected)):
        if _files_match(Path(out_dir), expected):
            return found
    if found is not None and generator_of(found) != (version, on):
        log.warning(
            "%s holds the synthetic benchmark %s; rendering %s over it",
            out_dir,
            describe_generator(*generator_of(found)),
            describe_generator(version, on),
        )
    return render_benchmark(out_dir, seed, scale, size, specs, progress, version=version, shifts=on)


def _files_match(root: Path, manifest: dict) -> bool:
    for name, info in manifest["domains"].items():
        n = sum(len(files) for _, _, files in os.walk(root / name))
        if n != info["images"]:
            return False
    return True


__all__ = [
    "MANIFEST",
    "VERSION",
    "build_manifest",
    "describe_generator",
    "ensure_benchmark",
    "generator_of",
    "levels_for",
    "n_ids_at_scale",
    "read_manifest",
    "render_benchmark",
]
