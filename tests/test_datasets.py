"""Every dataset loader on a tiny tree written in that dataset's real layout and file names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from dgreid.data.datasets import (
    DATASETS,
    SYNTH_TWINS,
    DatasetLayoutError,
    DatasetNotFoundError,
    build_dataset,
    get_loader,
)
from dgreid.data.image_dataset import read_image
from dgreid.errors import DatasetError
from dgreid.structures import DISTRACTOR_PID, ReIDDataset

Img = Callable[..., Path]


def tree(folder: Path, img: Img, names: list[str]) -> None:
    for n in names:
        img(folder / n)


def market(folder: Path, img: Img) -> None:
    tree(
        folder,
        img,
        [
            "bounding_box_train/0002_c1s1_000451_03.jpg",
            "bounding_box_train/0002_c2s1_000551_01.jpg",
            "bounding_box_train/0007_c3s3_071952_02.jpg",
            "bounding_box_train/-1_c1s1_000401_03.jpg",  # junk
            "query/0003_c1s1_000201_00.jpg",
            "bounding_box_test/0003_c6s2_000201_01.jpg",
            "bounding_box_test/0000_c5s1_000401_04.jpg",  # distractor
            "bounding_box_test/-1_c2s1_000401_03.jpg",  # junk
        ],
    )
    (folder / "bounding_box_train" / "Thumbs.db").write_text("not an image")


def duke(folder: Path, img: Img) -> None:
    tree(
        folder,
        img,
        [
            "bounding_box_train/0001_c2_f0046182.jpg",
            "bounding_box_train/0001_c5_f0051341.jpg",
            "query/0005_c2_f0046985.jpg",
            "bounding_box_test/0005_c8_f0166325.jpg",
            "bounding_box_test/0009_c7_f0000001.jpg",  # gallery-only identity
        ],
    )


def cuhk02(folder: Path, img: Img) -> None:
    tree(
        folder,
        img,
        [
            "P1/cam1/001_1.png",
            "P1/cam2/001_3.png",
            "P1/cam1/002_1.png",
            "P1/cam2/002_3.png",
            "P2/cam1/001_1.png",  # same token, other pair: another person
            "P2/cam2/001_2.png",
        ],
    )


def cuhk03(folder: Path, img: Img) -> None:
    tree(
        folder,
        img,
        [
            "images_labeled/1_001_1_01.png",
            "images_labeled/1_001_2_06.png",
            "images_labeled/1_002_1_01.png",
            "images_labeled/3_001_2_07.png",
            "images_detected/1_001_1_01.png",
            "images_detected/2_005_1_02.png",
        ],
    )


def grid(folder: Path, img: Img) -> None:
    tree(
        folder,
        img,
        [
            "probe/0001_1_25004_107_32_130.jpeg",
            "probe/0002_4_25010_22_60_150.jpeg",
            "gallery/0001_5_25004_80_27_110.jpeg",
            "gallery/0002_6_25010_40_50_140.jpeg",
            "gallery/0000_3_25020_10_20_100.jpeg",
            "gallery/0000_7_25030_10_20_100.jpeg",
        ],
    )


def ilids(folder: Path, img: Img) -> None:
    tree(folder, img, ["0001001.jpg", "0001002.jpg", "0002001.jpg", "0002002.jpg", "0002003.jpg"])


def prid(folder: Path, img: Img) -> None:
    cam_a = ["person_0001.png", "person_0002.png", "person_0201.png"]
    cam_b = ["person_0001.png", "person_0002.png", "person_0201.png", "person_0202.png"]
    tree(folder / "cam_a", img, cam_a)
    tree(folder / "cam_b", img, cam_b)


def viper(folder: Path, img: Img) -> None:
    tree(
        folder,
        img,
        ["cam_a/000_45.bmp", "cam_a/002_90.bmp", "cam_b/000_0.bmp", "cam_b/002_180.bmp"],
    )


def cuhk01(folder: Path, img: Img) -> None:
    tree(folder, img, [f"{p:04d}{i:03d}.png" for p in (1, 2) for i in range(1, 5)])


def msmt17(folder: Path, img: Img) -> None:
    lists = {
        "list_train.txt": ("train", [("0000/0000_000_01_0303morning_0015_0.jpg", 0)]),
        "list_val.txt": ("train", [("0001/0001_000_05_0303noon_0020_1.jpg", 1)]),
        "list_query.txt": ("test", [("0000/0000_000_02_0303morning_0030_0.jpg", 0)]),
        "list_gallery.txt": ("test", [("0000/0000_001_15_0303afternoon_0040_0.jpg", 0)]),
    }
    for name, (sub, lines) in lists.items():
        for rel, _ in lines:
            img(folder / sub / rel)
        (folder / name).write_text("".join(f"{rel} {pid}\n" for rel, pid in lines))


def cuhksysu(folder: Path, img: Img) -> None:
    tree(folder, img, ["p1_s1_0.jpg", "p1_s2_0.jpg", "p42_s10_3.jpg"])


def custom(folder: Path, img: Img) -> None:
    tree(folder, img, ["cams/a.jpg", "cams/b.png", "cams/c.jpg"])
    (folder / "manifest.csv").write_text(
        "path,pid,camid,split\ncams/a.jpg,0,0,train\ncams/b.png,0,1,query\ncams/c.jpg,-1,1,gallery\n"
    )


@dataclass(frozen=True)
class Case:
    """A tiny tree: where it goes under the root, how to write it, what a loader must find."""

    folder: str
    build: Callable[[Path, Img], None]
    pids: int
    images: int
    cams: int
    protocol: str = "standard"


CASES: dict[str, Case] = {
    "market1501": Case("market1501/Market-1501-v15.09.15", market, 3, 6, 5),
    "dukemtmc": Case("DukeMTMC-reID", duke, 3, 5, 4),
    "cuhk02": Case("cuhk02/Dataset", cuhk02, 3, 6, 4),
    "cuhk03": Case("cuhk03", cuhk03, 3, 4, 3),
    "cuhk03-detected": Case("cuhk03", cuhk03, 2, 2, 2),
    "grid": Case("grid/underground_reid", grid, 2, 6, 2, "grid"),
    "ilids": Case("ilids/i-LIDS_Pedestrian/Persons", ilids, 2, 5, 1, "ilids"),
    "prid": Case("prid2011/prid_2011/single_shot", prid, 5, 7, 2, "prid"),
    "viper": Case("viper/VIPeR", viper, 2, 4, 2, "viper"),
    "cuhk01": Case("cuhk01/campus", cuhk01, 2, 8, 2, protocol="cuhk01"),
    "msmt17": Case("msmt17/MSMT17_V1", msmt17, 3, 4, 4),
    "cuhksysu": Case("cuhk_sysu/cropped_images", cuhksysu, 2, 3, 1),
    "custom": Case("custom", custom, 1, 3, 2),
}
# synth twins: the real layout inside the folder `dgreid synth` writes (docs/layouts.md)
CASES.update(
    {
        twin: Case(folder, CASES[real].build, *_counts, protocol=CASES[real].protocol)
        for twin, (real, folder) in SYNTH_TWINS.items()
        for _counts in [(CASES[real].pids, CASES[real].images, CASES[real].cams)]
    }
)


def test_every_registered_dataset_has_a_tree() -> None:
    assert sorted(CASES) == sorted(DATASETS.names())


@pytest.mark.parametrize("name", sorted(CASES))
def test_loader_reads_its_real_layout(name: str, tmp_path: Path, tiny_image: Img) -> None:
    case = CASES[name]
    case.build(tmp_path / case.folder, tiny_image)
    before = sorted(tmp_path.rglob("*"))
    ds = build_dataset(name, tmp_path)
    assert isinstance(ds, ReIDDataset)
    assert (ds.name, ds.protocol) == (name, case.protocol)
    assert (ds.num_pids, ds.num_images, ds.num_cams) == (case.pids, case.images, case.cams)
    assert all(Path(r.path).is_file() and r.camid >= 0 for r in ds.records)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written into the data folder


def by_name(ds: ReIDDataset) -> dict[str, tuple[int, int]]:
    return {Path(r.path).name: (r.pid, r.camid) for r in ds.records}


def test_market_junk_distractor_and_partition(tmp_path: Path, tiny_image: Img) -> None:
    market(tmp_path / "Market-1501-v15.09.15", tiny_image)  # fast-reid nesting
    ds = build_dataset("market1501", tmp_path)
    recs = by_name(ds)
    assert not any(n.startswith("-1_") for n in recs)
    assert recs["0000_c5s1_000401_04.jpg"] == (DISTRACTOR_PID, 4)
    assert recs["0007_c3s3_071952_02.jpg"] == (7, 2)
    assert (len(ds.train), len(ds.query), len(ds.gallery)) == (3, 1, 2)


def test_case_variants_are_accepted(tmp_path: Path, tiny_image: Img) -> None:
    viper(tmp_path / "VIPER" / "viper", tiny_image)
    ds = build_dataset("viper", tmp_path)
    assert ds.num_images == 4 and ds.root.name == "viper"


def test_cuhk02_and_cuhk03_camids(tmp_path: Path, tiny_image: Img) -> None:
    cuhk02(tmp_path / "cuhk02" / "Dataset", tiny_image)
    cuhk03(tmp_path / "cuhk03", tiny_image)
    c2 = build_dataset("cuhk02", tmp_path)
    assert {c for _, c in by_name(c2).values()} == {0, 1, 2, 3}
    p1 = {r.pid for r in c2.records if "P1" in r.path}
    p2 = {r.pid for r in c2.records if "P2" in r.path}
    assert not p1 & p2
    c3 = by_name(build_dataset("cuhk03", tmp_path))
    assert c3["1_001_1_01.png"][1] == 0 and c3["1_001_2_06.png"][1] == 1
    assert c3["3_001_2_07.png"][1] == 5
    assert c3["1_001_1_01.png"][0] == c3["1_001_2_06.png"][0] != c3["3_001_2_07.png"][0]


def test_targets_pids_and_cameras(tmp_path: Path, tiny_image: Img) -> None:
    grid(tmp_path / "underground_reid", tiny_image)
    prid(tmp_path / "prid_2011" / "single_shot", tiny_image)
    ilids(tmp_path / "i-LIDS_Pedestrian" / "Persons", tiny_image)
    g = build_dataset("grid", tmp_path)
    assert [r.camid for r in g.query] == [0, 0] and {r.camid for r in g.gallery} == {1}
    assert sum(r.pid == DISTRACTOR_PID for r in g.gallery) == 2
    p = build_dataset("prid", tmp_path)
    a = {r.pid for r in p.records if r.camid == 0}
    b = {r.pid for r in p.records if r.camid == 1}
    assert a & b == {1, 2}  # person_0201 of cam_a and of cam_b are different people
    assert len(b - a) == 2 and len(a - b) == 1
    assert {r.camid for r in build_dataset("ilids", tmp_path).records} == {0}


def test_msmt17_v2_offsets_test_pids(tmp_path: Path, tiny_image: Img) -> None:
    folder = tmp_path / "MSMT17_V2"
    msmt17(folder, tiny_image)
    (folder / "train").rename(folder / "mask_train_v2")
    (folder / "test").rename(folder / "mask_test_v2")
    ds = build_dataset("msmt17", tmp_path)
    assert {r.pid for r in ds.train} == {0, 1}
    assert {r.pid for r in ds.query} == {r.pid for r in ds.gallery} == {2}
    assert {r.camid for r in ds.gallery} == {14}


def test_custom_market_style_names(tmp_path: Path, tiny_image: Img) -> None:
    tree(
        tmp_path,
        tiny_image,
        ["train/0001_c1_x.jpg", "train/0001_c2_y.jpg", "query/0002_c1.png", "gallery/0002_c3.jpg"],
    )
    tiny_image(tmp_path / "gallery" / "-1_c1_junk.jpg")
    ds = build_dataset("custom", tmp_path)  # the root itself is the dataset folder
    assert (ds.num_pids, ds.num_images, ds.num_cams) == (2, 4, 3)
    assert (len(ds.train), len(ds.query), len(ds.gallery)) == (2, 1, 1)


def test_construction_touches_nothing(tmp_path: Path) -> None:
    loader = get_loader("market1501", tmp_path / "does-not-exist")
    assert loader.root == tmp_path / "does-not-exist"
    assert not (tmp_path / "does-not-exist").exists()


# ---- CUHK03 from the released .mat ---------------------------------------------------------


def write_cuhk03_mat(path: Path) -> None:
    """A cuhk-03.mat in the released HDF5 layout: 2 camera pairs x 2 pids x 10 cells."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")

        def store(arr: np.ndarray) -> object:
            return refs.create_dataset(f"r{len(refs)}", data=arr).ref

        for variant in ("labeled", "detected"):
            pairs = []
            for _ in range(2):
                cells = np.empty((10, 2), dtype=h5py.ref_dtype)  # MATLAB order: (10, pids)
                for p in range(2):
                    for i in range(10):
                        present = i in (0, 5) or (i == 1 and p == 0)
                        img = np.full((8, 4, 3), 90, np.uint8).T if present else np.zeros(2)
                        cells[i, p] = store(img)
                pairs.append(store(cells))
            f.create_dataset(variant, data=np.array([pairs], dtype=h5py.ref_dtype))


def test_cuhk03_mat_extracts_into_cache_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    write_cuhk03_mat(data / "cuhk03" / "cuhk03_release" / "cuhk-03.mat")
    monkeypatch.setenv("DGREID_CACHE", str(cache))
    before = sorted(data.rglob("*"))
    ds = build_dataset("cuhk03", data)
    assert (ds.num_pids, ds.num_images, ds.num_cams) == (4, 10, 4)
    assert sorted(data.rglob("*")) == before
    assert all(Path(r.path).is_relative_to(cache) for r in ds.records)
    names = by_name(ds)
    assert names["1_001_2_06.png"][1] == 1 and names["2_002_1_01.png"][1] == 2
    assert read_image(ds.records[0].path).size == (4, 8)
    again = build_dataset("cuhk03", data)  # reuses the extraction
    assert [r.path for r in again.records] == [r.path for r in ds.records]
    assert build_dataset("cuhk03-detected", data).num_images == 10


def test_cuhk03_mat_not_hdf5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mat = tmp_path / "cuhk03" / "cuhk-03.mat"
    mat.parent.mkdir(parents=True)
    mat.write_bytes(b"MATLAB 5.0 MAT-file")
    monkeypatch.setenv("DGREID_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="v7.3"):
        build_dataset("cuhk03", tmp_path)
    assert not list((tmp_path / "cache").rglob("*.png"))


# ---- errors ----------------------------------------------------------------------------------


def test_unknown_name_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="valid names: market1501, dukemtmc"):
        build_dataset("market", tmp_path)


def test_missing_dataset_lists_every_path_tried(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as e:
        build_dataset("market1501", tmp_path)
    for cand in ("market1501/Market-1501-v15.09.15", "Market-1501-v15.09.15", "Market-1501"):
        assert str(tmp_path / cand) in str(e.value)


def test_missing_marker_folder_named(tmp_path: Path, tiny_image: Img) -> None:
    tiny_image(tmp_path / "Market-1501" / "bounding_box_train" / "0001_c1s1_000001_01.jpg")
    tiny_image(tmp_path / "Market-1501" / "bounding_box_test" / "0001_c2s1_000001_01.jpg")
    with pytest.raises(DatasetLayoutError, match="lacks 'query'"):
        build_dataset("market1501", tmp_path)


def test_misnamed_files_listed_with_expected_form(tmp_path: Path, tiny_image: Img) -> None:
    folder = tmp_path / "market1501"
    market(folder, tiny_image)
    tiny_image(folder / "query" / "person1.jpg")
    tiny_image(folder / "query" / "IMG_0001.jpg")
    with pytest.raises(DatasetLayoutError) as e:
        build_dataset("market1501", tmp_path)
    msg = str(e.value)
    assert "2 file name(s)" in msg and "IMG_0001.jpg, person1.jpg" in msg
    assert "PPPP_cCsS_FFFFFF_NN.jpg" in msg and str(folder / "query") in msg


def test_folder_without_images(tmp_path: Path, tiny_image: Img) -> None:
    tiny_image(tmp_path / "VIPeR" / "cam_a" / "000_45.bmp")
    (tmp_path / "VIPeR" / "cam_b").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"cam_b: no images found"):
        build_dataset("viper", tmp_path)


def test_empty_identity_folder(tmp_path: Path, tiny_image: Img) -> None:
    folder = tmp_path / "MSMT17_V1"
    msmt17(folder, tiny_image)
    (folder / "train" / "0007").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"identity folder\(s\) .* no images: 0007"):
        build_dataset("msmt17", tmp_path)


def test_bad_csv_row_named(tmp_path: Path, tiny_image: Img) -> None:
    tiny_image(tmp_path / "custom" / "a.jpg")
    (tmp_path / "custom" / "manifest.csv").write_text(
        "path,pid,camid\na.jpg,3,0\na.jpg,three,0\nmissing.jpg,1,0\n"
    )
    with pytest.raises(DatasetLayoutError) as e:
        build_dataset("custom", tmp_path)
    msg = str(e.value)
    assert "2 bad row(s)" in msg and "line 3: pid 'three'" in msg
    assert "line 4: " in msg and "missing.jpg does not exist" in msg


def test_csv_without_header(tmp_path: Path, tiny_image: Img) -> None:
    tiny_image(tmp_path / "custom" / "a.jpg")
    (tmp_path / "custom" / "manifest.csv").write_text("a.jpg,3,0\n")
    with pytest.raises(DatasetLayoutError, match="expected path,pid,camid"):
        build_dataset("custom", tmp_path)


def test_viper_unequal_cameras(tmp_path: Path, tiny_image: Img) -> None:
    viper(tmp_path / "VIPeR", tiny_image)
    tiny_image(tmp_path / "VIPeR" / "cam_a" / "004_0.bmp")
    with pytest.raises(DatasetLayoutError) as e:
        build_dataset("viper", tmp_path)
    assert "cam_a has 3 images but cam_b has 2" in str(e.value)
    assert "only in cam_a: 4" in str(e.value)


def test_target_pairing_invariants(tmp_path: Path, tiny_image: Img) -> None:
    grid(tmp_path / "underground_reid", tiny_image)
    tiny_image(tmp_path / "underground_reid" / "probe" / "0003_1_1_1_1_1.jpeg")
    with pytest.raises(DatasetLayoutError, match="probe pids with no gallery image: 3"):
        build_dataset("grid", tmp_path)
    prid(tmp_path / "prid_2011" / "single_shot", tiny_image)
    tiny_image(tmp_path / "prid_2011" / "single_shot" / "cam_b" / "person_0150.png")
    with pytest.raises(DatasetLayoutError, match="only in cam_b: 150"):
        build_dataset("prid", tmp_path)
    ilids(tmp_path / "i-LIDS_Pedestrian" / "Persons", tiny_image)
    tiny_image(tmp_path / "i-LIDS_Pedestrian" / "Persons" / "0009001.jpg")
    with pytest.raises(DatasetLayoutError, match="ids with one image: 9"):
        build_dataset("ilids", tmp_path)


# ---- CUHK03's 767/700 split file -------------------------------------------------------------


def test_cuhk03_split_file_fills_query_and_gallery(tmp_path: Path, tiny_image: Img) -> None:
    from real_trees import write_cuhk03_split

    cuhk03(tmp_path / "cuhk03", tiny_image)
    write_cuhk03_split(
        tmp_path / "cuhk03" / "cuhk03_new_protocol_config_labeled.mat",
        ["1_001_1_01.png", "1_001_2_06.png"],
        ["1_002_1_01.png"],
        ["3_001_2_07.png"],
    )
    ds = build_dataset("cuhk03", tmp_path)
    names = [[Path(r.path).name for r in part] for part in (ds.train, ds.query, ds.gallery)]
    assert names == [["1_001_1_01.png", "1_001_2_06.png"], ["1_002_1_01.png"], ["3_001_2_07.png"]]
    assert ds.num_images == 4  # every image stays a record (a source trains on all of them)
    assert ds.query[0].pid == by_name(ds)["1_002_1_01.png"][0]
    # the detected boxes have a split file of their own, absent here
    assert not build_dataset("cuhk03-detected", tmp_path).query


@pytest.mark.parametrize(
    "query, message",
    [(["9_009_1_01.png"], "not among the extracted images: 9_009_1_01.png"), (None, "outside 1..")],
)
def test_cuhk03_bad_split_file_is_named(
    tmp_path: Path, tiny_image: Img, query: list[str] | None, message: str
) -> None:
    from scipy.io import savemat

    from real_trees import write_cuhk03_split

    cuhk03(tmp_path / "cuhk03", tiny_image)
    path = tmp_path / "cuhk03" / "cuhk03_new_protocol_config_labeled.mat"
    if query is not None:
        write_cuhk03_split(path, ["1_001_1_01.png"], query, ["3_001_2_07.png"])
    else:  # indices past the file list
        names = np.empty((1, 1), dtype=object)
        names[0, 0] = "1_001_1_01.png"
        one = np.array([[1.0]])
        savemat(
            path, {"filelist": names, "train_idx": one, "query_idx": one + 4, "gallery_idx": one}
        )
    with pytest.raises(DatasetLayoutError, match=message) as err:
        build_dataset("cuhk03", tmp_path)
    assert str(path) in str(err.value)
    path.write_bytes(b"not a mat file")
    with pytest.raises(DatasetLayoutError, match="not a readable MATLAB split file"):
        build_dataset("cuhk03", tmp_path)
