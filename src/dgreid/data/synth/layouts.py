"""File plans: which identity, camera and viewpoint goes to which file of each real layout.

A plan is computed before any pixel is drawn (it is cheap), so the manifest counts come from it
and ``ensure_benchmark`` can compare an existing tree without rendering. The names follow
``docs/layouts.md`` exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dgreid.data.synth.attributes import VIEW_BACK, VIEW_FRONT, VIEW_SIDE
from dgreid.data.synth.domains import DomainSpec, camera_styles
from dgreid.data.synth.shifts import ShiftLevels


@dataclass(frozen=True)
class Shot:
    """One image to render: file ``path`` (relative to the domain folder), identity ``key``
    (unique within the domain), image index ``img`` within the identity, camera-style index,
    viewpoint and facing (drawn here because VIPeR file names carry the viewing angle)."""

    path: str
    key: int
    img: int
    cam: int
    view: int
    facing: int
    pid: int  # the pid a loader reads (0 for distractors)


@dataclass
class Plan:
    """All shots of one domain plus the counts the manifest reports."""

    shots: list[Shot]
    counts: dict[str, int]


def n_ids_at_scale(spec: DomainSpec, scale: float) -> int:
    """Sources scale with ``scale`` (at least 4 ids); targets keep their protocol sizes."""
    return max(4, int(round(spec.n_ids * scale))) if spec.role == "source" else spec.n_ids


def plan_domain(
    spec: DomainSpec, seed: int, scale: float, levels: ShiftLevels | None = None
) -> Plan:
    """The file plan of ``spec`` for ``seed`` and ``scale``; views follow the cameras' priors
    (version 2: drawn from the viewpoint level of ``levels``)."""
    views = [s.view_probs for s in camera_styles(spec, seed, levels)]

    def shot(path: str, key: int, img: int, cam: int, pid: int) -> Shot:
        rng = np.random.default_rng([seed, spec.code, 1, key, img])
        view = int(rng.choice(3, p=np.asarray(views[cam]) / sum(views[cam])))
        return Shot(path, key, img, cam, view, 1 if rng.random() < 0.5 else -1, pid)

    return _PLANNERS[spec.layout](spec, seed, n_ids_at_scale(spec, scale), shot)


ShotFn = Callable[[str, int, int, int, int], Shot]


def _multi_camera(spec: DomainSpec, seed: int, n: int, shot: ShotFn) -> Plan:
    """Market/Duke: about half the ids train, the rest test; query = one image per camera."""
    order = np.random.default_rng([seed, spec.code, 4]).permutation(n)
    test = set(order[: n // 2].tolist())
    shots: list[Shot] = []
    n_query = 0
    for key in range(n):
        rng = np.random.default_rng([seed, spec.code, 0, key, 1])
        count = int(rng.integers(spec.per_id[0], spec.per_id[1] + 1))
        k = int(rng.integers(2, min(spec.cameras, count // 2) + 1))
        cams = sorted(rng.choice(spec.cameras, k, replace=False).tolist())
        extra = rng.multinomial(count - 2 * k, [1 / k] * k) if count > 2 * k else [0] * k
        img, pid = 0, key + 1
        for cam, more in zip(cams, extra):
            for j in range(2 + int(more)):
                folder = "bounding_box_train"
                if key in test:
                    folder = "query" if j == 0 else "bounding_box_test"
                    n_query += j == 0
                frame = 1000 * (img + 1) + int(rng.integers(1000))
                if spec.layout == "market":
                    name = f"{pid:04d}_c{cam + 1}s{1 + frame % 6}_{frame:06d}_01.jpg"
                else:
                    name = f"{pid:04d}_c{cam + 1}_f{frame:07d}.jpg"
                shots.append(shot(f"{folder}/{name}", key, img, cam, pid))
                img += 1
    n_test = sum(1 for s in shots if s.path.startswith("bounding_box_test"))
    counts = {"train_ids": n - len(test), "test_ids": len(test), "query": n_query,
              "gallery": n_test, "train": len(shots) - n_query - n_test}  # fmt: skip
    return Plan(shots, {"ids": n, **counts})


def _cuhk02(spec: DomainSpec, seed: int, n: int, shot: ShotFn) -> Plan:
    """P1..P5 each with cam1/cam2; two images per camera; pids unique across folders."""
    shots = []
    half = spec.per_id[0] // 2
    for key in range(n):
        p, pid = key % 5 + 1, key + 1
        for view in (1, 2):
            for j in range(half):
                nn = (view - 1) * half + j + 1
                cam = 2 * (p - 1) + view - 1
                shots.append(shot(f"P{p}/cam{view}/{pid:04d}_{nn:02d}.png", key, nn - 1, cam, pid))
    return Plan(shots, {"ids": n})


def _cuhk03(spec: DomainSpec, seed: int, n: int, shot: ShotFn) -> Plan:
    """images_labeled/C_PPP_V_NN.png over ``cameras // 2`` camera pairs."""
    pairs = spec.cameras // 2
    shots = []
    for key in range(n):
        rng = np.random.default_rng([seed, spec.code, 0, key, 1])
        count = int(rng.integers(spec.per_id[0], spec.per_id[1] + 1))
        c, p = key % pairs + 1, key // pairs + 1
        img = 0
        for view, m in ((1, count // 2), (2, count - count // 2)):
            for j in range(m):
                path = f"images_labeled/{c}_{p:03d}_{view}_{j + 1:02d}.png"
                shots.append(shot(path, key, img, 2 * (c - 1) + view - 1, key + 1))
                img += 1
    return Plan(shots, {"ids": n})


def _grid(spec: DomainSpec, seed: int, n: int, shot: ShotFn) -> Plan:
    """probe/ and gallery/ with one image per paired id; gallery pid 0000 = distractors."""
    shots = []
    for key in range(n):
        shots.append(shot(f"probe/{key + 1:04d}_1_{key + 1:05d}.jpeg", key, 0, 0, key + 1))
        shots.append(shot(f"gallery/{key + 1:04d}_2_{key + 1:05d}.jpeg", key, 1, 1, key + 1))
    for j in range(spec.distractors):
        shots.append(shot(f"gallery/0000_2_{n + j + 1:05d}.jpeg", n + j, 0, 1, 0))
    return Plan(shots, {"ids": n, "distractors": spec.distractors})


def _ilids(spec: DomainSpec, seed: int, n: int, shot: ShotFn) -> Plan:
    """Persons/PPPPNNN.jpg, ``per_id`` images per id adjusted to the fixed total."""
    lo, hi = spec.per_id
    counts = np.random.default_rng([seed, spec.code, 5]).integers(lo, hi + 1, n)
    i = 0
    while counts.sum() != spec.n_images:  # walk the ids, nudging counts toward the total
        step = 1 if counts.sum() < spec.n_images else -1
        if lo <= counts[i % n] + step <= hi:
            counts[i % n] += step
        i += 1
    shots = []
    for key in range(n):
        for j in range(int(counts[key])):
            path = f"Persons/{key + 1:04d}{j + 1:03d}.jpg"
            shots.append(shot(path, key, j, (key + j) % spec.cameras, key + 1))
    return Plan(shots, {"ids": n})


def _prid(spec: DomainSpec, seed: int, n: int, shot: ShotFn) -> Plan:
    """single_shot/cam_a (n ids) and cam_b (n_ids_b ids); the first ``shared`` are the same."""
    shots = [shot(f"single_shot/cam_a/person_{k + 1:04d}.png", k, 0, 0, k + 1) for k in range(n)]
    for j in range(spec.n_ids_b):
        key = j if j < spec.shared else n + j - spec.shared
        shots.append(shot(f"single_shot/cam_b/person_{j + 1:04d}.png", key, 1, 1, j + 1))
    ids = n + spec.n_ids_b - spec.shared
    return Plan(shots, {"ids": ids, "ids_a": n, "ids_b": spec.n_ids_b, "shared": spec.shared})


_ANGLE = {(VIEW_FRONT, 1): 0, (VIEW_FRONT, -1): 0, (VIEW_BACK, 1): 180, (VIEW_BACK, -1): 180,
          (VIEW_SIDE, 1): 90, (VIEW_SIDE, -1): 270}  # fmt: skip


def _viper(spec: DomainSpec, seed: int, n: int, shot: ShotFn) -> Plan:
    """cam_a/NNN_AAA.bmp and cam_b/NNN_AAA.bmp; AAA is the viewing angle of the drawn view."""
    shots = []
    for key in range(n):
        for cam, folder in enumerate(("cam_a", "cam_b")):
            s = shot("", key, cam, cam, key)
            angle = _ANGLE[(s.view, s.facing)]
            shots.append(Shot(f"{folder}/{key:03d}_{angle:03d}.bmp", *_fields(s)))
    return Plan(shots, {"ids": n})


def _fields(s: Shot) -> tuple[int, int, int, int, int, int]:
    return s.key, s.img, s.cam, s.view, s.facing, s.pid


_PLANNERS: dict[str, Callable[[DomainSpec, int, int, ShotFn], Plan]] = {
    "market": _multi_camera,
    "duke": _multi_camera,
    "cuhk02": _cuhk02,
    "cuhk03": _cuhk03,
    "grid": _grid,
    "ilids": _ilids,
    "prid": _prid,
    "viper": _viper,
}
