"""One data root holding every dataset the protocols of configs/protocols/ name, each a tiny tree
in its real on-disk layout and file names (docs/datasets.md), with query/gallery sizes known.

:func:`write_real_root` returns how many query and gallery images each dataset with a
query/gallery of its own has, so a test can check that a target was evaluated on exactly those.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

#: identities per dataset and images per identity in the training part of each tree
TRAIN_IDS, PER_ID = 6, 4
#: identities of each test part (query + gallery) and of each small target
TEST_IDS = 4


def _image(path: Path, pid: int, shade: int = 0) -> None:
    """A 32x16 crop whose colour follows the identity (and a little the image)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = ((37 * pid + shade) % 256, (91 * pid) % 256, (53 * pid + 2 * shade) % 256)
    Image.new("RGB", (16, 32), colour).save(path)


def _market_style(folder: Path, name: Callable[[int, int, int], str]) -> tuple[int, int]:
    """Market-1501 or DukeMTMC-reID (``name(pid, cam, i)`` is the file name): train, query and
    test folders, one gallery image that matches no query (Market's distractor pid 0000, Duke's
    gallery-only identity) and a junk box (Market only). Returns (query, gallery)."""
    for pid in range(1, TRAIN_IDS + 1):
        for i in range(PER_ID):
            _image(folder / "bounding_box_train" / name(pid, 1 + i % 2, i), pid, i)
    query = gallery = 0
    for pid in range(100, 100 + TEST_IDS):
        _image(folder / "query" / name(pid, 1, 0), pid)
        query += 1
        for i in range(2):
            _image(folder / "bounding_box_test" / name(pid, 2 + i, i + 1), pid, i)
            gallery += 1
    _image(folder / "bounding_box_test" / name(0, 3, 9), 0)  # gallery only, never a match
    junk = name(-1, 3, 8)
    if junk:
        _image(folder / "bounding_box_test" / junk, 0)  # dropped by the loader
    return query, gallery + 1


def _market_name(pid: int, cam: int, i: int) -> str:
    return f"{pid:04d}_c{cam}s1_{i:06d}_00.jpg" if pid >= 0 else f"-1_c{cam}s1_{i:06d}_00.jpg"


def _duke_name(pid: int, cam: int, i: int) -> str:
    """Duke has no junk boxes (pid -1: no file) and no distractor pid: 0000 is an identity seen
    in the gallery alone."""
    return f"{pid:04d}_c{cam}_f{i:07d}.jpg" if pid >= 0 else ""


def _msmt17(folder: Path) -> tuple[int, int]:
    """MSMT17_V2: list files over mask_train_v2/ and mask_test_v2/ (test pids restart at 0)."""

    def rel(pid: int, cam: int, i: int) -> str:
        return f"{pid:04d}/{pid:04d}_{i:03d}_{cam:02d}_0303morning_{i:04d}_0.jpg"

    lists: dict[str, list[tuple[str, int]]] = {n: [] for n in ("train", "val", "query", "gallery")}
    for pid in range(TRAIN_IDS):
        for i in range(PER_ID):
            lists["val" if pid == TRAIN_IDS - 1 else "train"].append((rel(pid, 1 + i % 3, i), pid))
    for pid in range(TEST_IDS):
        lists["query"].append((rel(pid, 4, 0), pid))
        lists["gallery"] += [(rel(pid, 5 + i, i + 1), pid) for i in range(3)]
    for part, lines in lists.items():
        sub = "mask_train_v2" if part in ("train", "val") else "mask_test_v2"
        for path, pid in lines:
            _image(folder / sub / path, 200 + pid + (50 if sub == "mask_test_v2" else 0))
        (folder / f"list_{part}.txt").write_text("".join(f"{p} {pid}\n" for p, pid in lines))
    return len(lists["query"]), len(lists["gallery"])


def write_cuhk03_split(path: Path, train: list[str], query: list[str], gallery: list[str]) -> None:
    """A ``cuhk03_new_protocol_config_*.mat`` as released (MATLAB v5): the file list and the
    1-based indices of its train, query and gallery images."""
    from scipy.io import savemat

    names = [*train, *query, *gallery]
    cells = np.empty((len(names), 1), dtype=object)
    for i, n in enumerate(names):
        cells[i, 0] = n

    def index(start: int, part: list[str]) -> np.ndarray:
        return np.arange(start + 1, start + 1 + len(part), dtype=np.float64).reshape(-1, 1)

    savemat(
        str(path),
        {
            "filelist": cells,
            "train_idx": index(0, train),
            "query_idx": index(len(train), query),
            "gallery_idx": index(len(train) + len(query), gallery),
        },
    )


def _cuhk03(folder: Path) -> tuple[int, int]:
    """images_labeled/ (C_PPP_V_NN.png) and the 767/700-style split file naming them."""
    train, query, gallery = [], [], []
    for pid in range(1, TRAIN_IDS + 1):
        train += [f"1_{pid:03d}_{1 + i // 2}_{i + 1:02d}.png" for i in range(PER_ID)]
    for pid in range(1, TEST_IDS + 1):
        query.append(f"2_{pid:03d}_1_01.png")
        gallery += [f"2_{pid:03d}_2_{6 + i:02d}.png" for i in range(2)]
    for name in [*train, *query, *gallery]:
        pair, pid = (int(x) for x in name.split("_")[:2])
        _image(folder / "images_labeled" / name, 300 + 10 * pair + pid)
    write_cuhk03_split(folder / "cuhk03_new_protocol_config_labeled.mat", train, query, gallery)
    return len(query), len(gallery)


def _cuhk02(folder: Path) -> None:
    for pid in range(1, TRAIN_IDS + 1):
        for cam in (1, 2):
            for i in range(PER_ID // 2):
                _image(folder / "P1" / f"cam{cam}" / f"{pid:03d}_{2 * cam + i - 1}.png", 400 + pid)


def _cuhksysu(folder: Path) -> None:
    for pid in range(1, TRAIN_IDS + 1):
        for scene in range(PER_ID):
            _image(folder / f"p{pid}_s{10 * pid + scene}_0.jpg", 500 + pid, scene)


def _small_targets(root: Path) -> None:
    """GRID, i-LIDS, PRID 2011 and VIPeR, each with TEST_IDS + 1 identities in both cameras."""
    grid = root / "grid" / "underground_reid"
    ilids = root / "ilids" / "i-LIDS_Pedestrian" / "Persons"
    prid = root / "prid2011" / "prid_2011" / "single_shot"
    viper = root / "viper" / "VIPeR"
    for pid in range(1, TEST_IDS + 2):
        _image(grid / "probe" / f"{pid:04d}_1_25004_107_32_130.jpeg", 600 + pid)
        _image(grid / "gallery" / f"{pid:04d}_5_25004_80_27_110.jpeg", 600 + pid, 5)
        for i in range(1, 4):
            _image(ilids / f"{pid:04d}{i:03d}.jpg", 700 + pid, i)
        for cam in ("cam_a", "cam_b"):
            _image(prid / cam / f"person_{pid:04d}.png", 800 + pid, len(cam))
        _image(viper / "cam_a" / f"{pid:03d}_45.bmp", 900 + pid)
        _image(viper / "cam_b" / f"{pid:03d}_90.bmp", 900 + pid, 7)
    _image(grid / "gallery" / "0000_3_25020_10_20_100.jpeg", 0)  # a GRID distractor
    _image(prid / "cam_b" / "person_0201.png", 850)  # seen by cam_b alone


def write_real_root(root: Path) -> dict[str, tuple[int, int]]:
    """Write every tree under ``root``; return (query, gallery) image counts of the datasets
    that have a query/gallery of their own."""
    own = {
        "market1501": _market_style(root / "market1501" / "Market-1501-v15.09.15", _market_name),
        "dukemtmc": _market_style(root / "DukeMTMC-reID", _duke_name),
        "msmt17": _msmt17(root / "msmt17" / "MSMT17_V2"),
        "cuhk03": _cuhk03(root / "cuhk03"),
    }
    _cuhk02(root / "cuhk02" / "Dataset")
    _cuhksysu(root / "cuhk_sysu" / "cropped_images")
    _small_targets(root)
    return own
