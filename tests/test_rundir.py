"""A run folder is never silently overwritten (one whose run wrote no checkpoint yet may be
started again); a resumed run must keep its config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dgreid.config import load_config
from dgreid.config.loader import ConfigError
from dgreid.experiments.rundir import RunFolderError, prepare_run_dir


def test_fresh_then_refuse_then_resume_then_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = load_config(None, [f"output_dir={out}", "train.epochs=3"])
    prepare_run_dir(cfg, resume=False, overwrite=False)
    assert (out / "config.yaml").exists()
    (out / "marker").write_text("keep")
    prepare_run_dir(cfg, resume=False, overwrite=False)  # no checkpoint yet: nothing to lose
    assert (out / "marker").exists()
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "last.pt").write_bytes(b"state")
    with pytest.raises(RunFolderError, match="last.pt exists.*--resume.*--overwrite"):
        prepare_run_dir(cfg, resume=False, overwrite=False)
    assert (out / "marker").exists()  # nothing lost
    prepare_run_dir(cfg, resume=True, overwrite=False)
    assert (out / "marker").exists()
    prepare_run_dir(cfg, resume=False, overwrite=True)
    assert not (out / "marker").exists()


def test_resume_with_other_config_lists_keys(tmp_path: Path) -> None:
    out = tmp_path / "run"
    prepare_run_dir(load_config(None, [f"output_dir={out}"]), resume=False, overwrite=False)
    other = load_config(None, [f"output_dir={out}", "train.epochs=99", "train.lr=0.5"])
    with pytest.raises(RunFolderError) as e:
        prepare_run_dir(other, resume=True, overwrite=False)
    assert "train.epochs: 10 -> 99" in str(e.value) and "train.lr" in str(e.value)


def test_resume_without_run(tmp_path: Path) -> None:
    cfg = load_config(None, [f"output_dir={tmp_path / 'none'}"])
    with pytest.raises(RunFolderError, match="no run"):
        prepare_run_dir(cfg, resume=True, overwrite=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("train: [1, 2\n", "not valid YAML"), ("- a list\n", "expected a mapping of config keys")],
)
def test_resume_with_damaged_saved_config_names_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    out = tmp_path / "run"
    cfg = load_config(None, [f"output_dir={out}"])
    prepare_run_dir(cfg, resume=False, overwrite=False)
    (out / "config.yaml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(f"{out / 'config.yaml'}: {expected}")):
        prepare_run_dir(cfg, resume=True, overwrite=False)
    assert (out / "config.yaml").read_text() == text  # nothing rewritten
