"""Files written atomically get the mode a plain ``open`` gives (0666 less the umask), so a
colleague or a web server can read a report, a model or a result."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from dgreid.deploy.model_file import make_meta, save_model_file
from dgreid.utils.io import atomic_torch_save, atomic_write_json, atomic_write_text, current_umask
from test_deploy_helpers import tiny_config, tiny_method


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_is_the_process_umask(umask: int) -> None:
    assert current_umask() == umask
    assert current_umask() == umask  # reading it did not change it


def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int) -> None:
    expected = 0o666 & ~umask
    atomic_write_text(tmp_path / "report.html", "<html></html>")
    atomic_write_json(tmp_path / "results.json", {"a": 1})
    atomic_torch_save(tmp_path / "state.pt", {"w": torch.zeros(2)})
    cfg = tiny_config()
    method = tiny_method(cfg)
    save_model_file(tmp_path / "model.pt", method, cfg, make_meta(cfg, method, 5, 2))
    for name in ("report.html", "results.json", "state.pt", "model.pt"):
        assert mode(tmp_path / name) == expected, name
    path = tmp_path / "report.html"  # replacing a file: the new one's mode, by the same rule
    path.chmod(0o600)
    atomic_write_text(path, "again")
    assert mode(path) == expected


def test_cuhk03_extraction_folder_honours_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dgreid.data.datasets import build_dataset
    from test_datasets import write_cuhk03_mat

    old = os.umask(0o022)
    try:
        data, cache = tmp_path / "data", tmp_path / "cache"
        write_cuhk03_mat(data / "cuhk03" / "cuhk03_release" / "cuhk-03.mat")
        monkeypatch.setenv("DGREID_CACHE", str(cache))
        ds = build_dataset("cuhk03", data)
        assert mode(Path(ds.records[0].path).parent) == 0o755
    finally:
        os.umask(old)
