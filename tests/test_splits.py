"""Target splits: sizes per protocol with the real counts, determinism, errors, JSON round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgreid.config import ConfigError, load_config
from dgreid.errors import DatasetError
from dgreid.evaluation.splits import (
    CameraProtocol,
    Split,
    SplitsFileError,
    load_splits,
    make_splits,
    save_splits,
)
from dgreid.experiments.evaluate import draw_splits
from dgreid.structures import DISTRACTOR_PID, ImageRecord, ReIDDataset

ROOT = Path("/data/fake")


def rec(sub: str, pid: int, cam: int) -> ImageRecord:
    return ImageRecord(str(ROOT / sub), pid, cam)


def grid() -> ReIDDataset:
    """250 paired ids (probe cam 0, gallery cam 1) + 775 gallery distractors."""
    recs = [rec(f"probe/{p:04d}_1.jpeg", p, 0) for p in range(1, 251)]
    recs += [rec(f"gallery/{p:04d}_2.jpeg", p, 1) for p in range(1, 251)]
    recs += [rec(f"gallery/0000_{i:03d}.jpeg", DISTRACTOR_PID, 1) for i in range(775)]
    return ReIDDataset("grid", ROOT, recs, protocol="grid")


def ilids() -> ReIDDataset:
    """119 ids with 2-8 images each, all camid 0."""
    recs = [rec(f"{p:04d}{i:03d}.jpg", p, 0) for p in range(1, 120) for i in range(2 + p % 7)]
    return ReIDDataset("ilids", ROOT, recs, protocol="ilids")


def prid() -> ReIDDataset:
    """385 ids in cam_a, 749 in cam_b, ids 1..200 in both."""
    recs = [rec(f"cam_a/person_{p:04d}.png", p, 0) for p in range(1, 386)]
    recs += [rec(f"cam_b/person_{p:04d}.png", p if p <= 200 else p + 185, 1) for p in range(1, 750)]
    return ReIDDataset("prid", ROOT, recs, protocol="prid")


def viper() -> ReIDDataset:
    recs = [rec(f"cam_{c}/{p:03d}_{c}.bmp", p, i) for p in range(632) for i, c in enumerate("ab")]
    return ReIDDataset("viper", ROOT, recs, protocol="viper")


@pytest.mark.parametrize(
    "make, nq, ng", [(grid, 125, 900), (ilids, 60, 60), (prid, 100, 649), (viper, 316, 316)]
)
def test_split_sizes_with_real_counts(make, nq, ng):
    splits = make_splits(make(), num_splits=3, seed=0)
    assert len(splits) == 3
    for s in splits:
        assert (len(s.query), len(s.gallery)) == (nq, ng)
        assert {r.camid for r in s.query} == {0} and {r.camid for r in s.gallery} == {1}
        qids = {r.pid for r in s.query}
        assert len(qids) == nq  # single-shot: one probe image per id
        gids = {r.pid for r in s.gallery if r.pid != DISTRACTOR_PID}
        assert qids <= gids  # every probe has its true match in the gallery
    assert {r.pid for r in splits[0].query} != {r.pid for r in splits[1].query}


def test_grid_gallery_keeps_every_distractor_and_no_unchosen_id():
    s = make_splits(grid(), num_splits=1, seed=4)[0]
    assert sum(r.pid == DISTRACTOR_PID for r in s.gallery) == 775
    assert {r.pid for r in s.gallery} - {DISTRACTOR_PID} == {r.pid for r in s.query}


def test_ilids_probe_and_gallery_are_different_images():
    for s in make_splits(ilids(), num_splits=2, seed=1):
        assert not {r.path for r in s.query} & {r.path for r in s.gallery}


@pytest.mark.parametrize("make", [grid, ilids, prid, viper])
def test_same_seed_same_splits_whatever_the_record_order(make):
    ds = make()
    shuffled = ReIDDataset(ds.name, ds.root, ds.records[::-1], protocol=ds.protocol)
    a = make_splits(ds, num_splits=2, seed=7)
    b = make_splits(shuffled, num_splits=2, seed=7)
    assert a == b
    assert make_splits(ds, num_splits=1, seed=8)[0] != a[0]


def test_standard_protocol_uses_query_and_gallery():
    q, g = [rec("q/1.jpg", 1, 0)], [rec("g/1.jpg", 1, 1), rec("g/2.jpg", 2, 1)]
    ds = ReIDDataset("m", ROOT, q + g, query=q, gallery=g)
    assert make_splits(ds, num_splits=10) == [Split(q, g)]


def test_too_small_target_says_what_it_has_and_needs():
    ds = viper()
    small = ReIDDataset("viper", ROOT, ds.records[:100], protocol="viper")
    with pytest.raises(DatasetError, match=r"needs at least 316 .* found 50"):
        make_splits(small)
    with pytest.raises(DatasetError, match="standard protocol needs"):
        make_splits(ReIDDataset("x", ROOT, ds.records))
    with pytest.raises(DatasetError, match="unknown evaluation protocol 'msmt'"):
        make_splits(ReIDDataset("x", ROOT, ds.records, protocol="msmt"))


def test_num_test_ids_override():
    s = make_splits(viper(), num_splits=1, num_test_ids=10)[0]
    assert (len(s.query), len(s.gallery)) == (10, 10)


def test_save_load_round_trip(tmp_path):
    splits = {"ilids": make_splits(ilids(), 2, seed=3), "prid": make_splits(prid(), 1)}
    path = tmp_path / "splits.json"
    save_splits(path, splits, {"ilids": ROOT, "prid": ROOT})
    assert load_splits(path) == splits
    moved = load_splits(path, roots={"prid": "/elsewhere"})
    assert moved["prid"][0].query[0].path.startswith("/elsewhere/cam_a/")
    assert moved["ilids"] == splits["ilids"]


def test_load_errors(tmp_path):
    with pytest.raises(SplitsFileError, match="not found"):
        load_splits(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(SplitsFileError, match="not a dgreid splits file"):
        load_splits(bad)
    bad.write_text('{"format": "dgreid-splits/1", "targets": {"x": {"root": "/"}}}')
    with pytest.raises(SplitsFileError, match="malformed"):
        load_splits(bad)


# ---- a custom target: the camera protocol ---------------------------------------------------


def site(name: str = "custom:site_c") -> ReIDDataset:
    """A custom network with training images only: ids 0-29 in cameras 0, 1 and 2 (two images
    each), ids 30-39 in camera 0 only, ids 40-44 in cameras 1 and 2 only, and distractors."""
    recs = [
        rec(f"c{c}/{p:04d}_{i}.jpg", p, c) for p in range(30) for c in (0, 1, 2) for i in (0, 1)
    ]
    recs += [rec(f"c0/{p:04d}_0.jpg", p, 0) for p in range(30, 40)]
    recs += [rec(f"c{c}/{p:04d}_0.jpg", p, c) for p in range(40, 45) for c in (1, 2)]
    recs += [rec(f"c3/junk_{i}.jpg", DISTRACTOR_PID, 3) for i in range(3)]
    return ReIDDataset(name, ROOT, recs)


def test_camera_protocol_single_shot():
    cams = CameraProtocol(probe_cams=(0,), gallery_cams=(2, 1), num_ids=20)
    splits = make_splits(site(), num_splits=3, seed=0, cameras=cams)
    assert len(splits) == 3
    for s in splits:
        assert (len(s.query), len(s.gallery)) == (20, 20)
        assert {r.camid for r in s.query} == {0} and {r.camid for r in s.gallery} <= {1, 2}
        qids = [r.pid for r in s.query]
        assert qids == sorted(set(qids)) == [r.pid for r in s.gallery]  # one image each
        assert max(qids) < 30  # only ids seen by a probe and a gallery camera
    assert splits[0] != splits[1]
    assert {r.camid for s in splits for r in s.gallery} == {1, 2}  # either gallery camera


def test_camera_protocol_defaults_and_several_probe_cameras():
    default = make_splits(site(), num_splits=1, cameras=CameraProtocol())[0]
    assert len(default.query) == 15  # half of the 30 ids seen by cameras 0 and 1
    assert {r.camid for r in default.query} == {0} and {r.camid for r in default.gallery} == {1}
    two = CameraProtocol(probe_cams=(0, 1), gallery_cams=(2,))
    s = make_splits(site(), num_splits=1, cameras=two)[0]
    assert len(s.query) == 17  # half of the 35 ids: 0-29, and 40-44 seen by camera 1
    assert len(make_splits(site(), num_splits=1, num_test_ids=4, cameras=two)[0].query) == 4


def test_camera_protocol_is_seeded_whatever_the_record_order():
    ds, cams = site(), CameraProtocol((0,), (1, 2), 10)
    shuffled = ReIDDataset(ds.name, ds.root, ds.records[::-1])
    a = make_splits(ds, num_splits=2, seed=5, cameras=cams)
    assert a == make_splits(shuffled, num_splits=2, seed=5, cameras=cams)
    assert a != make_splits(ds, num_splits=2, seed=6, cameras=cams)


def test_camera_protocol_only_without_query_and_gallery():
    q, g = [rec("q/1.jpg", 1, 0)], [rec("g/1.jpg", 1, 1)]
    ds = ReIDDataset("custom:x", ROOT, q + g, query=q, gallery=g)
    assert make_splits(ds, num_splits=3, cameras=CameraProtocol()) == [Split(q, g)]
    with pytest.raises(DatasetError, match="or give probe and gallery cameras"):
        make_splits(site())


def test_camera_protocol_errors():
    with pytest.raises(DatasetError) as e:
        make_splits(site(), cameras=CameraProtocol((0,), (1,), num_ids=31))
    assert "custom:site_c" in str(e.value) and "asks for 31" in str(e.value)
    assert "has 30" in str(e.value)
    with pytest.raises(DatasetError, match=r"gallery camera\(s\) 5, 7 not in .* are 0, 1, 2$"):
        make_splits(site(), cameras=CameraProtocol((0,), (7, 1, 5)))
    with pytest.raises(DatasetError, match=r"custom:site_c .*probe camera\(s\) 3 not in"):
        make_splits(site(), cameras=CameraProtocol((3,), (1,)))  # camera 3 holds only junk
    with pytest.raises(ValueError, match=r"camera\(s\) 1 cannot be both"):
        CameraProtocol((0, 1), (1, 2))
    with pytest.raises(ValueError, match="at least one camera"):
        CameraProtocol((), (1,))
    with pytest.raises(ValueError, match="num_test_ids must be >= 1"):
        make_splits(site(), num_test_ids=0, cameras=CameraProtocol())


def test_camera_protocol_splits_round_trip(tmp_path):
    splits = {"custom:site_c": make_splits(site(), 2, seed=1, cameras=CameraProtocol())}
    save_splits(tmp_path / "splits.json", splits, {"custom:site_c": ROOT})
    assert load_splits(tmp_path / "splits.json") == splits


def test_draw_splits_reads_the_camera_keys():
    cfg = load_config(
        None,
        ["eval.num_splits=2", "eval.test_ids=6", "eval.probe_cams=[2]", "eval.gallery_cams=[0]"],
    )
    out = draw_splits(cfg, {"custom:site_c": site(), "viper": viper()})
    assert [len(s.query) for s in out["custom:site_c"]] == [6, 6]
    assert {r.camid for r in out["custom:site_c"][0].query} == {2}
    assert len(out["viper"][0].query) == 316  # a paper target keeps its protocol
    with pytest.raises(ConfigError, match="eval.probe_cams .* 1 cannot be both"):
        load_config(None, ["eval.probe_cams=[1]"])  # refused when the config is read
    bad = load_config(None, ["eval.probe_cams=[1]"], check=False)
    with pytest.raises(ConfigError, match="eval.probe_cams .* 1 cannot be both"):
        draw_splits(bad, {"custom:site_c": site()})
