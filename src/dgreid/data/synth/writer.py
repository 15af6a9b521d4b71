"""Render domains to disk (in parallel, deterministically) and keep the ``synth.json`` manifest.

Each image is seeded from (seed, domain code, identity, image), so the bytes of a file do not
depend on chunking, worker count or order. A domain is written into a hidden ``.partial`` folder
and renamed into place when complete; ``synth.json`` is written last, so a tree with a manifest is
always complete.
"""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dgreid.data.synth.attributes import Identity, View, sample_identity, sample_view
from dgreid.data.synth.domains import DOMAINS, PALETTES, DomainSpec, camera_styles, get_domain
from dgreid.data.synth.layouts import Plan, Shot, n_ids_at_scale, plan_domain
from dgreid.data.synth.render import draw_people
from dgreid.data.synth.styles import CameraStyle, background, finish
from dgreid.errors import DgreidError
from dgreid.utils.io import atomic_write_json
from dgreid.utils.progress import progress_bar

#: Bumped whenever what the generator renders changes (see docs/synthetic.md).
VERSION = 1
MANIFEST = "synth.json"
CHUNK = 96
_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP"}
_LOADER_CAMS = {"ilids": 1}  # i-LIDS camids are all 0; its camera styles are internal


@dataclass(frozen=True)
class _Task:
    spec: DomainSpec
    style: CameraStyle
    shots: tuple[Shot, ...]
    seed: int
    size: tuple[int, int]
    folder: str


def render_shots(
    spec: DomainSpec, style: CameraStyle, shots: Sequence[Shot], seed: int, size: tuple[int, int]
) -> np.ndarray:
    """(B, H, W, 3) uint8 pixels of ``shots`` (all from one camera ``style``) before encoding."""
    h, w = size
    people: dict[int, Identity] = {}
    views: list[View] = []
    noise = np.empty((len(shots), h, w, 3), np.float32)
    for i, s in enumerate(shots):
        if s.key not in people:
            id_rng = np.random.default_rng([seed, spec.code, 0, s.key])
            people[s.key] = sample_identity(id_rng, PALETTES[spec.palette])
        rng = np.random.default_rng([seed, spec.code, 2, s.key, s.img])
        views.append(
            sample_view(
                rng, s.view, s.facing, spec.scale, spec.jitter, spec.occlusion, spec.occ_size
            )
        )
        noise[i] = rng.standard_normal((h, w, 3), dtype=np.float32)
    persons = [people[s.key] for s in shots]
    lab, shade, _ = draw_people(persons, views, h, w)
    table = np.stack([p.colours for p in persons])  # (B, parts, 3)
    for i, vw in enumerate(views):
        table[i, -1] = vw.occ_colour
    flat = (
        lab.astype(np.int32)
        + (np.arange(len(shots), dtype=np.int32) * table.shape[1])[:, None, None]
    )
    fg = np.take(table.reshape(-1, 3), flat, axis=0) * shade[..., None]
    bg = background(views, style.background, h, w)
    img = np.where((lab == 0)[..., None], bg, fg)
    return finish(img, style, views, noise)


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


def _run_task(task: _Task) -> int:
    pixels = render_shots(task.spec, task.style, task.shots, task.seed, task.size)
    for shot, px in zip(task.shots, pixels):
        data = encode(px, os.path.splitext(shot.path)[1], task.style.jpeg)
        with open(os.path.join(task.folder, shot.path), "wb") as f:
            f.write(data)
    return len(task.shots)


def _tasks(
    spec: DomainSpec, plan: Plan, seed: int, size: tuple[int, int], folder: str
) -> Iterator[_Task]:
    styles = camera_styles(spec, seed)
    for cam, style in enumerate(styles):
        shots = [s for s in plan.shots if s.cam == cam]
        for i in range(0, len(shots), CHUNK):
            yield _Task(spec, style, tuple(shots[i : i + CHUNK]), seed, size, folder)


def _resolve(domains: Sequence[str | DomainSpec] | None) -> list[DomainSpec]:
    if domains is None:
        return list(DOMAINS)
    return [d if isinstance(d, DomainSpec) else get_domain(d) for d in domains]


def build_manifest(
    specs: Sequence[DomainSpec],
    plans: Sequence[Plan],
    seed: int,
    scale: float,
    size: tuple[int, int],
) -> dict:
    """The ``synth.json`` content for these plans (no rendering needed)."""
    out: dict = {
        "version": VERSION,
        "seed": seed,
        "scale": scale,
        "size": list(size),
        "domains": {},
    }
    for spec, plan in zip(specs, plans):
        out["domains"][spec.name] = {
            "role": spec.role,
            "layout": spec.layout,
            "images": len(plan.shots),
            "cameras": _LOADER_CAMS.get(spec.layout, spec.cameras),
            **plan.counts,
            "palette": spec.palette,
            "occlusion": spec.occlusion,
            "camera_styles": [s.to_dict() for s in camera_styles(spec, seed)],
        }
    return out


def render_benchmark(
    out_dir: str | Path,
    seed: int = 0,
    scale: float = 1.0,
    size: tuple[int, int] = (128, 64),
    domains: Sequence[str | DomainSpec] | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> dict:
    """Render ``domains`` (default: all eight) into ``out_dir/synth-<name>/``; return the manifest.

    ``domains`` may hold names or :class:`DomainSpec` objects (tests pass shrunken specs).
    ``workers`` defaults to min(2, CPUs); the output is identical for any value.
    """
    if scale <= 0 or size[0] < 16 or size[1] < 8:
        raise DgreidError(f"synth: need scale > 0 and size >= 16x8, got scale={scale} size={size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    specs = _resolve(domains)
    plans = [plan_domain(s, seed, scale) for s in specs]
    tasks: list[_Task] = []
    for spec, plan in zip(specs, plans):
        part = out / f".{spec.name}.partial"
        shutil.rmtree(part, ignore_errors=True)
        for sub in sorted({os.path.dirname(s.path) for s in plan.shots}):
            (part / sub).mkdir(parents=True, exist_ok=True)
        tasks.extend(_tasks(spec, plan, seed, size, str(part)))
    total = sum(len(p.shots) for p in plans)
    _execute(tasks, total, progress, workers or min(2, os.cpu_count() or 1))
    for spec in specs:
        final = out / spec.name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(out / f".{spec.name}.partial", final)
    manifest = build_manifest(specs, plans, seed, scale, size)
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


def ensure_benchmark(
    out_dir: str | Path,
    seed: int = 0,
    scale: float = 1.0,
    size: tuple[int, int] = (128, 64),
    domains: Sequence[str | DomainSpec] | None = None,
    progress: bool = True,
) -> dict:
    """Reuse ``out_dir`` when its ``synth.json`` matches what would be rendered, else render."""
    specs = _resolve(domains)
    expected = build_manifest(
        specs, [plan_domain(s, seed, scale) for s in specs], seed, scale, size
    )
    path = Path(out_dir) / MANIFEST
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        found = None
    if found == json.loads(json.dumps(expected)) and _files_match(Path(out_dir), expected):
        return found
    return render_benchmark(out_dir, seed, scale, size, specs, progress)


def _files_match(root: Path, manifest: dict) -> bool:
    for name, info in manifest["domains"].items():
        n = sum(len(files) for _, _, files in os.walk(root / name))
        if n != info["images"]:
            return False
    return True


__all__ = ["VERSION", "build_manifest", "ensure_benchmark", "render_benchmark", "n_ids_at_scale"]
