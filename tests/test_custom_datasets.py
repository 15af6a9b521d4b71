"""Several custom camera networks under one data root: ``custom:NAME`` reads ``ROOT/NAME``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from dgreid.cli.main import main
from dgreid.config import load_config
from dgreid.data.check import check_datasets
from dgreid.data.datasets import (
    DATASETS,
    DatasetNotFoundError,
    build_dataset,
    custom_dataset_names,
    get_loader,
)
from dgreid.data.sources import merge_sources, summary_table
from dgreid.errors import UnknownNameError
from dgreid.evaluation.splits import load_splits
from dgreid.experiments.evaluate import evaluate_targets, targets_table

Img = Callable[..., Path]


def site_a(root: Path, img: Img, folder_name: str = "site_a") -> Path:
    """A manifest network: 2 ids, 2 cameras, train only."""
    folder = root / folder_name
    for name in ("e/1.jpg", "e/2.jpg", "l/1.jpg", "l/2.jpg"):
        img(folder / name)
    (folder / "manifest.csv").write_text(
        "path,pid,camid\ne/1.jpg,0,0\nl/1.jpg,0,1\ne/2.jpg,5,0\nl/2.jpg,5,1\n"
    )
    return folder


def site_b(root: Path, img: Img) -> Path:
    """A Market-style network: 3 ids, 3 cameras, no manifest."""
    folder = root / "Site_B"  # any case, like every loader
    for name in ("0001_c1_a.jpg", "0001_c2_b.jpg", "0002_c3_a.jpg", "0003_c1_x.png"):
        img(folder / "cams" / name)
    return folder


def test_each_named_custom_reads_its_own_folder(tmp_path: Path, tiny_image: Img) -> None:
    fa, fb = site_a(tmp_path, tiny_image), site_b(tmp_path, tiny_image)
    a = build_dataset("custom:site_a", tmp_path)
    b = build_dataset("custom:site_b", tmp_path)
    assert (a.name, a.root, a.num_pids, a.num_images, a.num_cams) == ("custom:site_a", fa, 2, 4, 2)
    assert (b.name, b.root, b.num_pids, b.num_images, b.num_cams) == ("custom:site_b", fb, 3, 4, 3)
    assert a.protocol == b.protocol == "standard" and not a.query and not b.gallery
    assert get_loader("custom:site_a", tmp_path).locate() == fa


def test_plain_custom_is_unchanged(tmp_path: Path, tiny_image: Img) -> None:
    site_a(tmp_path, tiny_image, "custom")
    site_b(tmp_path, tiny_image)  # beside ROOT/custom: not read by plain custom
    ds = build_dataset("custom", tmp_path)
    assert ds.name == "custom" and ds.root == tmp_path / "custom" and ds.num_images == 4
    assert "custom" in DATASETS.names() and not any(":" in n for n in DATASETS.names())


def test_two_custom_sources_keep_their_names(tmp_path: Path, tiny_image: Img) -> None:
    site_a(tmp_path, tiny_image)
    site_b(tmp_path, tiny_image)
    merged = merge_sources([build_dataset(n, tmp_path) for n in ("custom:site_a", "custom:site_b")])
    assert merged.domain_names == ["custom:site_a", "custom:site_b"]
    assert merged.num_classes == 5 and {r.domain for r in merged.records} == {0, 1}
    table = summary_table(merged)
    assert "custom:site_a" in table and "custom:site_b" in table


def test_missing_folder_names_it_and_the_custom_folders(tmp_path: Path, tiny_image: Img) -> None:
    site_a(tmp_path, tiny_image)
    site_b(tmp_path, tiny_image)
    (tmp_path / "VIPeR").mkdir()  # another loader's folder: not a custom one
    (tmp_path / ".cache").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetNotFoundError) as e:
        build_dataset("custom:site_c", tmp_path)
    msg = str(e.value)
    assert "'custom:site_c'" in msg and str(tmp_path / "site_c") in msg
    assert f"custom dataset folders under {tmp_path}: Site_B, site_a" in msg
    assert custom_dataset_names(tmp_path) == ["custom:Site_B", "custom:site_a"]
    with pytest.raises(DatasetNotFoundError, match="custom dataset folders under .*: none"):
        build_dataset("custom:x", tmp_path / "empty")


@pytest.mark.parametrize("name", ["custom:", "custom:a/b", "custom:..", "custom:.", "custom:a\\b"])
def test_malformed_custom_name(name: str, tmp_path: Path) -> None:
    assert name not in DATASETS
    with pytest.raises(UnknownNameError, match="one folder name under the data root"):
        build_dataset(name, tmp_path)


def test_valid_names_include_the_custom_family(tmp_path: Path) -> None:
    assert "custom:site_a" in DATASETS and "viper" in DATASETS and "custom:" not in DATASETS
    with pytest.raises(KeyError, match=r"valid names: market1501, .*or custom:NAME"):
        build_dataset("custm:site_a", tmp_path)


def test_check_named_and_all_custom(
    tmp_path: Path, tiny_image: Img, capsys: pytest.CaptureFixture[str]
) -> None:
    site_a(tmp_path, tiny_image)
    site_b(tmp_path, tiny_image)
    tiny_image(tmp_path / "VIPeR" / "cam_a" / "000_0.bmp")
    tiny_image(tmp_path / "VIPeR" / "cam_b" / "000_90.bmp")
    # the default picks registered datasets only, as before
    assert [s.name for s in check_datasets(tmp_path, decode=False)] == ["viper"]
    code = main(["data", "check", "--root", str(tmp_path), "--datasets", "custom:site_a"])
    out = capsys.readouterr().out
    assert code == 0 and "custom:site_a: found" in out and "2 ids, 4 images" in out
    assert "1 of 1 dataset(s) OK" in out
    statuses = check_datasets(tmp_path, ["custom:site_a", "custom:*"], decode=False)
    assert [(s.name, s.state) for s in statuses] == [
        ("custom:site_a", "found"),
        ("custom:Site_B", "found"),
    ]
    code = main(["data", "check", "--root", str(tmp_path), "--datasets", "custom:site_c"])
    out = capsys.readouterr().out
    assert code == 1 and "custom:site_c: MISSING" in out and "Site_B, site_a" in out


def test_check_all_custom_with_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "check", "--root", str(tmp_path), "--datasets", "custom:*"]) == 1
    assert "custom:*: MISSING" in capsys.readouterr().out
    assert main(["data", "check", "--root", str(tmp_path), "--datasets", "custom:a/b"]) == 2
    assert "one folder name" in capsys.readouterr().err


def test_custom_target_end_to_end(tmp_path: Path, tiny_image: Img) -> None:
    """A Market-style network with training images only is a target: its splits come from the
    eval.* camera keys and its name is kept in the table, results.json and splits.json."""
    for p in range(1, 7):
        for c in (1, 2, 3):
            tiny_image(tmp_path / "data" / "site_c" / f"{p:04d}_c{c}_0.jpg", shade=30 * p + c)
    cfg = load_config(
        None,
        [
            f"data.root={tmp_path / 'data'}",
            "data.targets=[custom:site_c]",
            "eval.num_splits=3",
            "eval.test_ids=4",
            "eval.probe_cams=[0]",
            "eval.gallery_cams=[1, 2]",
        ],
    )

    def mean_colour(images: torch.Tensor) -> torch.Tensor:
        return images.mean((2, 3))

    result = evaluate_targets(mean_colour, None, cfg, tmp_path / "run", torch.device("cpu"))
    assert list(result.targets) == ["custom:site_c"]
    assert [s.num_query for s in result.targets["custom:site_c"].splits] == [4, 4, 4]
    assert "custom:site_c" in targets_table(result, cfg)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert list(saved["targets"]) == ["custom:site_c"]
    splits = load_splits(tmp_path / "run" / "splits.json")
    assert splits == result.splits and {r.camid for r in splits["custom:site_c"][0].query} == {0}


def test_default_check_includes_root_custom(
    tmp_path: Path, tiny_image: Img, capsys: pytest.CaptureFixture[str]
) -> None:
    site_a(tmp_path, tiny_image, "custom")
    tiny_image(tmp_path / "VIPeR" / "cam_a" / "000_0.bmp")
    tiny_image(tmp_path / "VIPeR" / "cam_b" / "000_90.bmp")
    assert [s.name for s in check_datasets(tmp_path, decode=False)] == ["viper", "custom"]
    main(["data", "check", "--root", str(tmp_path)])
    out = capsys.readouterr().out
    assert f"custom: found at {tmp_path / 'custom'}" in out and "2 ids, 4 images" in out


@pytest.mark.parametrize(
    ("rows", "problem", "says"),
    [
        ("a/1.jpg,0,0\n", True, "0 id(s) with >= 2 images"),  # 1 image
        ("a/1.jpg,0,0\nb/1.jpg,0,1\na/2.jpg,0,0\n", True, "1 id(s), 2 camera(s)"),  # 1 id
        ("a/1.jpg,0,0\na/2.jpg,0,0\na/3.jpg,1,0\na/4.jpg,1,0\n", False, "1 camera(s)"),
    ],
)
def test_check_says_what_a_small_custom_set_cannot_do(
    rows: str,
    problem: bool,
    says: str,
    tmp_path: Path,
    tiny_image: Img,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "tiny"
    for line in rows.splitlines():
        tiny_image(folder / line.split(",")[0])
    (folder / "manifest.csv").write_text("path,pid,camid\n" + rows)
    code = main(["data", "check", "--root", str(tmp_path), "--datasets", "custom:tiny"])
    out = capsys.readouterr().out
    assert says in out and ("PROBLEM: " in out) == problem
    assert code == (1 if problem else 0)
    assert ("0 of 1 dataset(s) OK" if problem else "1 of 1 dataset(s) OK") in out
