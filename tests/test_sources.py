"""The DG source protocol: disjoint global ids, domain index, junk/distractors out, holdout."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgreid.data.sources import SourceSet, merge_sources, summary_table
from dgreid.errors import DatasetError
from dgreid.structures import DISTRACTOR_PID, ImageRecord, ReIDDataset


def dataset(name: str, pids: list[int], cams: int = 2, per_cam: int = 2) -> ReIDDataset:
    recs = [
        ImageRecord(f"/{name}/{p}_{c}_{i}.jpg", p, c)
        for p in pids
        for c in range(cams)
        for i in range(per_cam)
    ]
    recs.append(ImageRecord(f"/{name}/distractor.jpg", DISTRACTOR_PID, 0))
    return ReIDDataset(name=name, root=Path(f"/{name}"), records=recs)


def test_relabel_into_disjoint_space() -> None:
    a, b, c = dataset("a", [5, 9]), dataset("b", [1, 2, 3], cams=3), dataset("c", [100])
    s = merge_sources([a, b, c])
    assert isinstance(s, SourceSet)
    assert (s.num_classes, s.num_domains, s.domain_names) == (6, 3, ["a", "b", "c"])
    assert len(s.records) == 8 + 18 + 4  # distractors dropped
    assert sorted({r.pid for r in s.records}) == list(range(6))
    assert {r.pid for r in s.records if r.domain == 0} == {0, 1}
    assert {r.pid for r in s.records if r.domain == 1} == {2, 3, 4}
    assert {r.pid for r in s.records if r.domain == 2} == {5}
    assert [d.pid_offset for d in s.domains] == [0, 2, 5]
    assert [(d.num_pids, d.num_images, d.num_cams) for d in s.domains] == [
        (2, 8, 2),
        (3, 18, 3),
        (1, 4, 2),
    ]
    # pid 9 of "a" (second in sorted order) became 1; paths and cameras are kept
    assert {r.path for r in s.records if r.pid == 1} == {
        f"/a/9_{c}_{i}.jpg" for c in (0, 1) for i in (0, 1)
    }
    assert s.query == [[], [], []] and s.gallery == [[], [], []]


def test_holdout_is_seeded_and_disjoint() -> None:
    sources = [dataset("a", list(range(10)), cams=2, per_cam=3), dataset("b", list(range(20)))]
    s = merge_sources(sources, holdout=0.3, seed=7)
    assert [d.num_heldout_pids for d in s.domains] == [3, 6]
    assert s.num_classes == 7 + 14
    assert sorted({r.pid for r in s.records}) == list(range(21))
    for d, held in enumerate((3, 6)):
        q, g = s.query[d], s.gallery[d]
        assert len({r.pid for r in q}) == held and {r.pid for r in q} == {r.pid for r in g}
        assert all(r.pid >= s.num_classes and r.domain == d for r in q + g)
        assert len(q) == held * 2  # one query per id and camera
        per_cam = 3 if d == 0 else 2
        assert len(g) == held * 2 * (per_cam - 1)
        train_paths = {r.path for r in s.records}
        assert not train_paths & {r.path for r in q + g}
    assert not {r.pid for r in s.query[0]} & {r.pid for r in s.query[1]}
    again = merge_sources(sources, holdout=0.3, seed=7)
    assert again.query == s.query and again.records == s.records
    other = merge_sources(sources, holdout=0.3, seed=8)
    assert {r.path for r in other.query[1]} != {r.path for r in s.query[1]}


def test_bad_inputs() -> None:
    with pytest.raises(DatasetError, match="fraction"):
        merge_sources([dataset("a", [1, 2])], holdout=1.0)
    with pytest.raises(DatasetError, match="listed twice: a"):
        merge_sources([dataset("a", [1]), dataset("a", [2])])
    with pytest.raises(DatasetError, match="no labelled images"):
        merge_sources([ReIDDataset("e", Path("/e"), [ImageRecord("/e/x.jpg", DISTRACTOR_PID, 0)])])


def test_summary_table() -> None:
    s = merge_sources([dataset("market", [1, 2]), dataset("duke", [3], cams=3)], holdout=0.0)
    lines = summary_table(s).splitlines()
    assert lines[0].split() == ["domain", "ids", "images", "cameras"]
    assert lines[2].split() == ["market", "2", "8", "2"]
    assert lines[3].split() == ["duke", "1", "6", "3"]
    assert lines[4].split() == ["total", "3", "14", "5"]
    held = summary_table(merge_sources([dataset("m", list(range(10)))], holdout=0.2))
    assert "held-out ids" in held and held.splitlines()[2].split() == ["m", "8", "32", "2", "2"]


def test_training_split_alone() -> None:
    """``images="train"`` trains on a source's published training split, not its query or
    gallery; a source without one is refused by name."""
    full = dataset("m", [1, 2, 3, 4])
    split = ReIDDataset(
        "m", full.root, full.records, train=[r for r in full.records if r.pid in (1, 2)]
    )
    d = dataset("d", [7])
    d.train = list(d.records)
    s = merge_sources([split, d], images="train")
    assert s.num_classes == 3 and [d.num_images for d in s.domains] == [8, 4]
    assert {r.path for r in s.records if r.domain == 0} == {r.path for r in split.train}
    assert merge_sources([split], images="all").num_classes == 4
    with pytest.raises(DatasetError, match=r"source 'd' \(/d\) has no published training split"):
        merge_sources(
            [split, ReIDDataset("d", Path("/d"), dataset("d", [7]).records)], images="train"
        )
    with pytest.raises(DatasetError, match="one of all, train, got 'test'"):
        merge_sources([split], images="test")
