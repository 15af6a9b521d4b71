"""Seeded single-shot probe/gallery splits of the target datasets, and their JSON files.

One function per protocol (METHOD.md, "Evaluation protocol"; camera conventions in
docs/layouts.md). A dataset without a protocol or a query/gallery of its own (a custom camera
network) is split by a :class:`CameraProtocol`, whose sizes the caller chooses. Draws use
``numpy.random.Generator(PCG64(seed))`` over identities sorted by pid and images sorted by path,
so the same seed gives the same splits on every machine, whatever order a loader listed the
files in.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dgreid.errors import DatasetError, DgreidError
from dgreid.structures import DISTRACTOR_PID, ImageRecord, ReIDDataset
from dgreid.utils.io import atomic_write_json

#: Test identities per split of each target protocol (the paper's numbers).
TEST_IDS = {"grid": 125, "ilids": 60, "prid": 100, "viper": 316, "cuhk01": 485}
SPLITS_FORMAT = "dgreid-splits/1"


class SplitsFileError(DgreidError):
    """A splits JSON file is unreadable or does not hold what a run needs."""


@dataclass
class Split:
    """One probe (query) / gallery partition of a target."""

    query: list[ImageRecord]
    gallery: list[ImageRecord]


@dataclass(frozen=True)
class CameraProtocol:
    """Single-shot splits of a dataset that has no protocol of its own: ``num_ids`` identities
    seen by a probe camera and by a gallery camera (0 = half of them), each with one random
    probe-camera image as probe and one random gallery-camera image as gallery. Cameras are
    camids as the loader gives them (0-based); probe and gallery cameras must differ, so the
    true match is never dropped as a same-camera match."""

    probe_cams: tuple[int, ...] = (0,)
    gallery_cams: tuple[int, ...] = (1,)
    num_ids: int = 0

    def __post_init__(self) -> None:
        if not self.probe_cams or not self.gallery_cams:
            raise ValueError(
                f"probe and gallery cameras must each name at least one camera; got probe "
                f"{list(self.probe_cams)}, gallery {list(self.gallery_cams)}"
            )
        both = sorted(set(self.probe_cams) & set(self.gallery_cams))
        if both:
            raise ValueError(f"camera(s) {_cams(both)} cannot be both probe and gallery cameras")
        if self.num_ids < 0:
            raise ValueError(f"the number of test identities must be >= 0, got {self.num_ids}")


def make_splits(
    dataset: ReIDDataset,
    num_splits: int = 10,
    seed: int = 0,
    num_test_ids: int | None = None,
    cameras: CameraProtocol | None = None,
) -> list[Split]:
    """Draw ``num_splits`` splits of ``dataset`` by its ``protocol``.

    ``num_test_ids`` overrides the protocol's number of test identities (default
    :data:`TEST_IDS`, or ``cameras.num_ids``; smaller values are for quick runs and tests).
    ``standard`` returns the dataset's own query/gallery once; a ``standard`` dataset with
    neither (only training images) is split by ``cameras``.
    """
    if num_splits < 1:
        raise ValueError(f"num_splits must be >= 1, got {num_splits}")
    if dataset.protocol == "standard":
        if cameras is not None and not dataset.query and not dataset.gallery:
            n = num_test_ids if num_test_ids is not None else cameras.num_ids
            if num_test_ids is not None and n < 1:
                raise ValueError(f"num_test_ids must be >= 1, got {n}")
            rng = np.random.default_rng(seed)
            return [_by_cameras(dataset, cameras, n, rng) for _ in range(num_splits)]
        if not dataset.query or not dataset.gallery:
            hint = "" if cameras is not None else "; or give probe and gallery cameras"
            raise DatasetError(
                f"{dataset.name} ({dataset.root}): the standard protocol needs a query and a "
                f"gallery set; found {len(dataset.query)} query and {len(dataset.gallery)} "
                f"gallery images{hint}"
            )
        return own_split(dataset)
    draw = _PROTOCOLS.get(dataset.protocol)
    if draw is None:
        valid = ", ".join(["standard", *_PROTOCOLS])
        raise DatasetError(
            f"{dataset.name}: unknown evaluation protocol {dataset.protocol!r}; valid: {valid}"
        )
    n = TEST_IDS[dataset.protocol] if num_test_ids is None else num_test_ids
    if n < 1:
        raise ValueError(f"num_test_ids must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    return [draw(dataset, n, rng) for _ in range(num_splits)]


def own_split(dataset: ReIDDataset, hint: str = "") -> list[Split]:
    """The one split of a dataset evaluated on its own query/gallery (Market-1501's
    ``query/`` and ``bounding_box_test/``, MSMT17's list files, CUHK03's 767/700 split file),
    never a random one: a dataset with a protocol of random splits, or without a query or a
    gallery, is an error naming what it has (``hint`` is added to it)."""
    if dataset.protocol != "standard":
        problem = (
            f"its protocol ({dataset.protocol}) draws random probe/gallery splits; it has no "
            "query/gallery of its own"
        )
    elif not dataset.query or not dataset.gallery:
        problem = (
            f"it has no query/gallery of its own (found {len(dataset.query)} query and "
            f"{len(dataset.gallery)} gallery images)"
        )
    else:
        return [Split(list(dataset.query), list(dataset.gallery))]
    raise DatasetError(f"{dataset.name} ({dataset.root}): {problem}{hint}")


def _by_pid_cam(records: list[ImageRecord]) -> dict[int, dict[int, list[ImageRecord]]]:
    out: dict[int, dict[int, list[ImageRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in sorted(records, key=lambda r: (r.pid, r.camid, r.path)):
        out[r.pid][r.camid].append(r)
    return out


def _choose(ds: ReIDDataset, ids: list[int], n: int, rng: np.random.Generator, what: str) -> list:
    if len(ids) < n:
        raise DatasetError(
            f"{ds.name} ({ds.root}): the {ds.protocol} protocol needs at least {n} {what}; "
            f"found {len(ids)}"
        )
    picked = rng.choice(np.array(sorted(ids)), size=n, replace=False)
    return sorted(int(p) for p in picked)


def _two_camera(ds: ReIDDataset, n: int, rng: np.random.Generator, extra_gallery: bool) -> Split:
    """Probe camera 0, gallery camera 1 of ``n`` ids seen by both (VIPeR, PRID, GRID).

    ``extra_gallery`` adds camera-1 images of ids never seen by camera 0 and all distractors.
    """
    cams = _by_pid_cam(ds.records)
    both = [p for p, c in cams.items() if p != DISTRACTOR_PID and 0 in c and 1 in c]
    chosen = _choose(ds, both, n, rng, "identities seen by both cameras (camid 0 and 1)")
    query = [r for p in chosen for r in cams[p][0]]
    gallery = [r for p in chosen for r in cams[p][1]]
    if extra_gallery:
        for p, c in sorted(cams.items()):
            if p == DISTRACTOR_PID:
                gallery += [r for cam in sorted(c) for r in c[cam]]
            elif 0 not in c:
                gallery += c.get(1, [])
    return Split(query, gallery)


def _viper(ds: ReIDDataset, n: int, rng: np.random.Generator) -> Split:
    return _two_camera(ds, n, rng, extra_gallery=False)


def _grid_or_prid(ds: ReIDDataset, n: int, rng: np.random.Generator) -> Split:
    return _two_camera(ds, n, rng, extra_gallery=True)


def _ilids(ds: ReIDDataset, n: int, rng: np.random.Generator) -> Split:
    """One random image of each chosen id as probe (camid 0), another as gallery (camid 1)."""
    images: dict[int, list[ImageRecord]] = defaultdict(list)
    for r in sorted(ds.records, key=lambda r: r.path):
        if r.pid != DISTRACTOR_PID:
            images[r.pid].append(r)
    eligible = [p for p, imgs in images.items() if len(imgs) >= 2]
    chosen = _choose(ds, eligible, n, rng, "identities with at least two images")
    query, gallery = [], []
    for p in chosen:
        a, b = rng.choice(len(images[p]), size=2, replace=False)
        query.append(dataclasses.replace(images[p][int(a)], camid=0))
        gallery.append(dataclasses.replace(images[p][int(b)], camid=1))
    return Split(query, gallery)


def _one_per_camera(ds: ReIDDataset, n: int, rng: np.random.Generator) -> Split:
    """CUHK01 single-shot (half of its 971 ids): one random camera-0 image of each chosen id as
    probe, one random camera-1 image as gallery."""
    cams = _by_pid_cam(ds.records)
    both = [p for p, c in cams.items() if p != DISTRACTOR_PID and 0 in c and 1 in c]
    chosen = _choose(ds, both, n, rng, "identities seen by both cameras (camid 0 and 1)")
    query, gallery = [], []
    for p in chosen:
        query.append(cams[p][0][int(rng.integers(len(cams[p][0])))])
        gallery.append(cams[p][1][int(rng.integers(len(cams[p][1])))])
    return Split(query, gallery)


def _cams(cams: Iterable[int]) -> str:
    return ", ".join(str(c) for c in sorted(cams))


def _by_cameras(
    ds: ReIDDataset, protocol: CameraProtocol, n: int, rng: np.random.Generator
) -> Split:
    """One split of ``protocol`` (``n`` ids; 0 = half of the eligible ones, at least one)."""
    cams = _by_pid_cam(ds.records)
    present = {c for p, by_cam in cams.items() if p != DISTRACTOR_PID for c in by_cam}
    for role, wanted in (("probe", protocol.probe_cams), ("gallery", protocol.gallery_cams)):
        absent = sorted(set(wanted) - present)
        if absent:
            raise DatasetError(
                f"{ds.name} ({ds.root}): {role} camera(s) {_cams(absent)} not in the dataset; "
                f"its cameras (camid, 0-based) are {_cams(present) or 'none'}"
            )
    probe, gallery = sorted(set(protocol.probe_cams)), sorted(set(protocol.gallery_cams))

    def images(pid: int, which: list[int]) -> list[ImageRecord]:
        return [r for c in which for r in cams[pid].get(c, [])]

    eligible = [p for p in cams if p != DISTRACTOR_PID and images(p, probe) and images(p, gallery)]
    n = n or max(1, len(eligible) // 2)
    if len(eligible) < n:
        raise DatasetError(
            f"{ds.name} ({ds.root}): the camera protocol asks for {n} test identities seen by a "
            f"probe camera ({_cams(probe)}) and a gallery camera ({_cams(gallery)}); the "
            f"dataset has {len(eligible)}"
        )
    chosen = sorted(int(p) for p in rng.choice(np.array(sorted(eligible)), size=n, replace=False))
    query, gall = [], []
    for p in chosen:
        q, g = images(p, probe), images(p, gallery)
        query.append(q[int(rng.integers(len(q)))])
        gall.append(g[int(rng.integers(len(g)))])
    return Split(query, gall)


_PROTOCOLS: dict[str, Callable[[ReIDDataset, int, np.random.Generator], Split]] = {
    "grid": _grid_or_prid,
    "ilids": _ilids,
    "prid": _grid_or_prid,
    "viper": _viper,
    "cuhk01": _one_per_camera,
}


def save_splits(
    path: str | Path, splits: Mapping[str, list[Split]], roots: Mapping[str, str | Path]
) -> None:
    """Write ``{target: [Split, ...]}`` atomically as JSON; each image is stored as
    ``[path relative to roots[target], pid, camid]``."""
    targets: dict[str, Any] = {}
    for name, split_list in splits.items():
        if name not in roots:
            raise ValueError(f"save_splits: no dataset root given for target {name!r}")
        root = os.path.abspath(roots[name])

        def rows(recs: list[ImageRecord], root: str = root) -> list[list[Any]]:
            return [[os.path.relpath(os.path.abspath(r.path), root), r.pid, r.camid] for r in recs]

        targets[name] = {
            "root": root,
            "splits": [{"query": rows(s.query), "gallery": rows(s.gallery)} for s in split_list],
        }
    atomic_write_json(
        path, {"format": SPLITS_FORMAT, "columns": ["path", "pid", "camid"], "targets": targets}
    )


def load_splits(
    path: str | Path, roots: Mapping[str, str | Path] | None = None
) -> dict[str, list[Split]]:
    """Read a file written by :func:`save_splits`. Image paths are joined to ``roots[target]``
    when given (the data moved), else to the root stored in the file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SplitsFileError(f"{path}: splits file not found") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SplitsFileError(f"{path}: cannot read splits JSON ({e})") from e
    if not isinstance(data, dict) or data.get("format") != SPLITS_FORMAT:
        raise SplitsFileError(f"{path}: not a dgreid splits file (expected format {SPLITS_FORMAT})")
    out: dict[str, list[Split]] = {}
    try:
        for name, entry in data["targets"].items():
            root = str((roots or {}).get(name, entry["root"]))

            def recs(rows: list[list[Any]], root: str = root) -> list[ImageRecord]:
                return [
                    ImageRecord(os.path.join(root, p), int(pid), int(cam)) for p, pid, cam in rows
                ]

            out[name] = [Split(recs(s["query"]), recs(s["gallery"])) for s in entry["splits"]]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise SplitsFileError(
            f"{path}: malformed splits file ({e.__class__.__name__}: {e}); expected "
            "targets.<name>.splits[].query/gallery as [path, pid, camid] rows"
        ) from e
    return out
