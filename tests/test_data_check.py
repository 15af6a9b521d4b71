"""``dgreid data check`` and the image verification training relies on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dgreid.cli.main import main
from dgreid.data.check import check_datasets, require_readable, verify_images
from dgreid.data.datasets import build_dataset
from dgreid.errors import DatasetError

Img = Callable[..., Path]


def viper_tree(root: Path, img: Img) -> Path:
    folder = root / "viper" / "VIPeR"
    for cam, angle in (("cam_a", 0), ("cam_b", 90)):
        for n in range(3):
            img(folder / cam / f"{n:03d}_{angle}.bmp", shade=40 * n)
    return folder


def corrupt(path: Path) -> None:
    path.write_bytes(b"BM" + b"\x00" * 10)  # a BMP header cut short


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


def test_cli_reports_corrupt_image(
    tmp_path: Path, tiny_image: Img, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = viper_tree(tmp_path, tiny_image)
    corrupt(folder / "cam_b" / "001_90.bmp")
    code = main(["data", "check", "--root", str(tmp_path), "--datasets", "viper"])
    out = capsys.readouterr().out
    assert code == 1
    assert "viper: found" in out and "3 ids, 6 images, 2 cameras" in out
    assert "1 unreadable image(s)" in out and str(folder / "cam_b" / "001_90.bmp") in out
    assert "0 of 1 dataset(s) OK" in out


def test_cli_all_good_and_default_names(
    tmp_path: Path, tiny_image: Img, capsys: pytest.CaptureFixture[str]
) -> None:
    viper_tree(tmp_path, tiny_image)
    tiny_image(tmp_path / "ilids" / "Persons" / "0001001.jpg")
    tiny_image(tmp_path / "ilids" / "Persons" / "0001002.jpg")
    tiny_image(tmp_path / "cuhk03" / "images_labeled" / "1_001_1_01.png")  # no detected boxes
    assert main(["data", "check", "--root", str(tmp_path), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "viper: found" in out and "ilids: found" in out and "all images decode" in out
    assert "cuhk03: found" in out and "cuhk03-detected" not in out
    assert "3 of 3 dataset(s) OK" in out


def test_cli_missing_and_malformed(
    tmp_path: Path, tiny_image: Img, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_image(tmp_path / "grid" / "probe" / "bad_name.jpeg")
    (tmp_path / "grid" / "gallery").mkdir()
    code = main(["data", "check", "--root", str(tmp_path), "--datasets", "grid", "prid"])
    out = capsys.readouterr().out
    assert code == 1
    assert "grid: MALFORMED" in out and "bad_name.jpeg" in out and "PPPP_C_" in out
    assert "prid: MISSING" in out and str(tmp_path / "prid2011/prid_2011/single_shot") in out


def test_cli_unknown_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", "--root", str(tmp_path), "--datasets", "viperr"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'viperr'" in err and "did you mean 'viper'" in err


def test_verify_images_lists_every_bad_file(tmp_path: Path, tiny_image: Img) -> None:
    folder = viper_tree(tmp_path, tiny_image)
    ok = tiny_image(tmp_path / "x" / "good.jpg")
    for n in range(3):
        tiny_image(tmp_path / "x" / f"t{n}.jpg")
    truncate(tmp_path / "x" / "t1.jpg")
    corrupt(folder / "cam_a" / "002_0.bmp")
    ds = build_dataset("viper", tmp_path)
    recs = ds.records + [
        type(ds.records[0])(str(p), 9, 0) for p in sorted((tmp_path / "x").iterdir())
    ]
    bad = verify_images(recs, workers=2)
    assert sorted(p for p, _ in bad) == sorted(
        [str(folder / "cam_a" / "002_0.bmp"), str(tmp_path / "x" / "t1.jpg")]
    )
    assert all(reason and not reason.startswith("/") for _, reason in bad)
    assert verify_images(recs) == bad
    with pytest.raises(DatasetError, match="2 image\\(s\\) cannot be decoded") as e:
        require_readable(recs, progress=False)
    assert "t1.jpg" in str(e.value) and "002_0.bmp" in str(e.value)
    require_readable([r for r in recs if r.path == str(ok)], progress=False)


def test_check_datasets_without_decoding(tmp_path: Path, tiny_image: Img) -> None:
    folder = viper_tree(tmp_path, tiny_image)
    corrupt(folder / "cam_a" / "000_0.bmp")
    [status] = check_datasets(tmp_path, ["viper"], decode=False)
    assert status.ok and status.num_images == 6 and not status.unreadable


def touch_all(folder: Path, names: list[str]) -> None:
    """Empty files: layout and statistics need no pixels (nothing is decoded without --decode)."""
    for n in names:
        (folder / n).parent.mkdir(parents=True, exist_ok=True)
        (folder / n).touch()


def published_trees(root: Path) -> None:
    """File-name trees with the published sizes of the targets, CUHK01 and CUHK02."""
    touch_all(
        root / "viper/VIPeR",
        [f"cam_{c}/{n:03d}_{a}.bmp" for n in range(632) for c, a in (("a", 0), ("b", 90))],
    )
    touch_all(
        root / "cuhk01/campus", [f"{p:04d}{i:03d}.png" for p in range(1, 972) for i in range(1, 5)]
    )
    touch_all(
        root / "prid2011/prid_2011/single_shot",
        [f"cam_a/person_{n:04d}.png" for n in range(1, 386)]
        + [f"cam_b/person_{n:04d}.png" for n in range(1, 750)],
    )
    touch_all(
        root / "grid/underground_reid",
        [f"probe/{p:04d}_1_1_1_1_1.jpeg" for p in range(1, 251)]
        + [f"gallery/{p:04d}_5_1_1_1_1.jpeg" for p in range(1, 251)]
        + [f"gallery/0000_{k % 8 + 1}_{k}_1_1_1.jpeg" for k in range(775)],
    )
    touch_all(
        root / "ilids/i-LIDS_Pedestrian/Persons",
        [f"{p:04d}{i:03d}.jpg" for p in range(1, 120) for i in range(1, 5)],
    )
    sizes = {1: 971, 2: 306, 3: 107, 4: 193, 5: 239}
    touch_all(
        root / "cuhk02/Dataset",
        [
            f"P{k}/cam{c}/{p:03d}_{c}{i}.png"
            for k, n in sizes.items()
            for p in range(n)
            for c in (1, 2)
            for i in (1, 2)
        ],
    )


def test_published_statistics(tmp_path: Path) -> None:
    published_trees(tmp_path)
    names = ["viper", "cuhk01", "prid", "grid", "ilids", "cuhk02"]
    stats = {
        s.name: (s.num_pids, s.num_images, s.num_distractors, s.num_cams)
        for s in check_datasets(tmp_path, names, decode=False)
    }
    assert stats == {
        "viper": (632, 1264, 0, 2),
        "cuhk01": (971, 3884, 0, 2),
        "prid": (934, 1134, 0, 2),
        "grid": (250, 500, 775, 2),
        "ilids": (119, 476, 0, 1),
        "cuhk02": (1816, 7264, 0, 10),
    }


def test_cli_root_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "check", "--root", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert f"--root {tmp_path / 'nowhere'} does not exist" in err
    (tmp_path / "file").write_text("x")
    assert main(["data", "check", "--root", str(tmp_path / "file")]) == 1
    assert "is not a folder" in capsys.readouterr().err


def test_empty_file_is_named_as_such(
    tmp_path: Path, tiny_image: Img, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = viper_tree(tmp_path, tiny_image)
    (folder / "cam_a" / "001_0.bmp").write_bytes(b"")
    assert main(["data", "check", "--root", str(tmp_path), "--datasets", "viper"]) == 1
    out = capsys.readouterr().out
    assert f"{folder / 'cam_a' / '001_0.bmp'}: empty file (0 bytes)" in out
    assert "cannot identify" not in out
