"""The DG source protocol: the union of the source datasets as one labelled training set.

Every image of every source is used (train + test partitions), junk and distractors excluded.
Identities are relabelled into one disjoint global space 0..N-1 (each domain gets an offset) and
each image carries its domain index (its source's position in the list). Optionally a seeded
fraction of each source's identities is held out as a per-domain query/gallery test.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from dgreid.errors import DatasetError
from dgreid.structures import DISTRACTOR_PID, ImageRecord, ReIDDataset


@dataclass(frozen=True)
class DomainSummary:
    """One source domain after merging: its global pid range and counts (training part)."""

    name: str
    pid_offset: int
    num_pids: int
    num_images: int
    num_cams: int
    num_heldout_pids: int = 0


@dataclass
class SourceSet:
    """Merged sources. ``records`` train the model: pids in ``0..num_classes-1``, ``domain`` =
    source index. ``query[d]``/``gallery[d]`` hold domain d's held-out ids (empty without
    holdout); their pids are ``>= num_classes`` so they are never a classifier target."""

    records: list[ImageRecord]
    num_classes: int
    domain_names: list[str]
    domains: list[DomainSummary]
    query: list[list[ImageRecord]] = field(default_factory=list)
    gallery: list[list[ImageRecord]] = field(default_factory=list)

    @property
    def num_domains(self) -> int:
        return len(self.domain_names)


#: which images of a source train: every image (train + query + gallery, the classic DG
#: protocol) or its published training split alone
SOURCE_IMAGES = ("all", "train")


def merge_sources(
    datasets: list[ReIDDataset], holdout: float = 0.0, seed: int = 0, images: str = "all"
) -> SourceSet:
    """Merge ``datasets`` into one disjoint id space; hold out ``holdout`` of each one's ids.
    ``images`` (:data:`SOURCE_IMAGES`) takes every image of a source, or its training split."""
    if images not in SOURCE_IMAGES:
        raise DatasetError(
            f"source images must be one of {', '.join(SOURCE_IMAGES)}, got {images!r}"
        )
    if not 0.0 <= holdout < 1.0:
        raise DatasetError(f"source holdout must be a fraction in [0, 1), got {holdout}")
    names = [ds.name for ds in datasets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DatasetError(f"a source is listed twice: {', '.join(dup)}")
    kept: list[dict[int, list[ImageRecord]]] = []
    held: list[dict[int, list[ImageRecord]]] = []
    for d, ds in enumerate(datasets):
        by_pid: dict[int, list[ImageRecord]] = defaultdict(list)
        if images == "train" and not ds.train:
            raise DatasetError(
                f"source {ds.name!r} ({ds.root}) has no published training split; "
                "data.source_images=train needs one (data.source_images=all takes every image)"
            )
        for r in ds.records if images == "all" else ds.train:
            if r.pid != DISTRACTOR_PID and r.pid >= 0:
                by_pid[r.pid].append(r)
        if not by_pid:
            raise DatasetError(f"source {ds.name!r} ({ds.root}) has no labelled images")
        train_ids, test_ids = _split_ids(sorted(by_pid), holdout, seed, d)
        kept.append({p: by_pid[p] for p in train_ids})
        held.append({p: by_pid[p] for p in test_ids})

    records: list[ImageRecord] = []
    summaries: list[DomainSummary] = []
    offset = 0
    for d, ds in enumerate(datasets):
        for new, old in enumerate(sorted(kept[d])):
            records += [ImageRecord(r.path, offset + new, r.camid, d) for r in kept[d][old]]
        imgs = [r for rs in kept[d].values() for r in rs]
        summaries.append(
            DomainSummary(
                name=ds.name,
                pid_offset=offset,
                num_pids=len(kept[d]),
                num_images=len(imgs),
                num_cams=len({r.camid for r in imgs}),
                num_heldout_pids=len(held[d]),
            )
        )
        offset += len(kept[d])

    num_classes = offset
    queries, galleries = [], []
    for d in range(len(datasets)):
        q, g, offset = _query_gallery(held[d], d, offset, random.Random(f"{seed}:{d}:qg"))
        queries.append(q)
        galleries.append(g)
    return SourceSet(records, num_classes, names, summaries, queries, galleries)


def _split_ids(
    pids: list[int], holdout: float, seed: int, domain: int
) -> tuple[list[int], list[int]]:
    """Seeded split of ``pids`` into (train, held out); keeps at least one id on each side."""
    if holdout <= 0.0:
        return pids, []
    n_out = min(max(1, round(holdout * len(pids))), len(pids) - 1)
    if n_out < 1:
        raise DatasetError(f"domain {domain}: a source with one identity cannot hold any out")
    out = set(random.Random(f"{seed}:{domain}:ids").sample(pids, n_out))
    return [p for p in pids if p not in out], sorted(out)


def _query_gallery(
    held: dict[int, list[ImageRecord]], domain: int, offset: int, rng: random.Random
) -> tuple[list[ImageRecord], list[ImageRecord], int]:
    """One query per held-out id and camera, the rest gallery; pids continue from ``offset``."""
    query: list[ImageRecord] = []
    gallery: list[ImageRecord] = []
    for pid in sorted(held):
        by_cam: dict[int, list[ImageRecord]] = defaultdict(list)
        for r in held[pid]:
            by_cam[r.camid].append(r)
        for cam in sorted(by_cam):
            recs = [ImageRecord(r.path, offset, r.camid, domain) for r in by_cam[cam]]
            pick = rng.randrange(len(recs))
            query.append(recs[pick])
            gallery += recs[:pick] + recs[pick + 1 :]
        offset += 1
    return query, gallery, offset


def summary_table(source_set: SourceSet) -> str:
    """A plain-text table: domain, ids, images, cameras (and held-out ids when any)."""
    show_held = any(s.num_heldout_pids for s in source_set.domains)
    head = ["domain", "ids", "images", "cameras"] + (["held-out ids"] if show_held else [])
    rows = [
        [s.name, str(s.num_pids), str(s.num_images), str(s.num_cams)]
        + ([str(s.num_heldout_pids)] if show_held else [])
        for s in source_set.domains
    ]
    total = [
        "total",
        str(source_set.num_classes),
        str(len(source_set.records)),
        str(sum(s.num_cams for s in source_set.domains)),
    ] + ([str(sum(s.num_heldout_pids for s in source_set.domains))] if show_held else [])
    return format_table(head, rows + [total])


def format_table(head: list[str], rows: list[list[str]]) -> str:
    """Left-aligned first column, right-aligned numbers, a rule under the header."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(head), rule, *(line(r) for r in rows)])
