"""The config loader: inheritance, overrides, and the errors a typo gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgreid.cli.main import main
from dgreid.config import ConfigError, load_config
from dgreid.config.loader import config_from_dict, config_to_dict


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_and_override_types() -> None:
    cfg = load_config(
        None,
        ["train.epochs=5", "data.sources=[market1501, dukemtmc]", "train.lr=1", "method.name=dann"],
    )
    assert cfg.train.epochs == 5
    assert cfg.data.sources == ["market1501", "dukemtmc"]
    assert isinstance(cfg.train.lr, float) and cfg.train.lr == 1.0


def test_base_inheritance_one_level(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", "train:\n  epochs: 3\n  lr: 0.5\n")
    child = write(tmp_path / "child.yaml", "base: base.yaml\ntrain:\n  epochs: 7\n")
    cfg = load_config(child)
    assert cfg.train.epochs == 7 and cfg.train.lr == 0.5


def test_typo_names_key_file_and_suggestion(tmp_path: Path) -> None:
    f = write(tmp_path / "cfg.yaml", "train:\n  epcohs: 5\n")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    msg = str(e.value)
    assert (
        "unknown key train.epcohs" in msg and str(f) in msg and "did you mean train.epochs" in msg
    )


def test_override_typo_and_wrong_type() -> None:
    with pytest.raises(ConfigError, match="did you mean train.epochs"):
        load_config(None, ["train.epcohs=5"])
    with pytest.raises(ConfigError, match="train.epochs.*expected int"):
        load_config(None, ["train.epochs=five"])
    with pytest.raises(ConfigError, match="expected key=value"):
        load_config(None, ["train.epochs"])
    with pytest.raises(ConfigError, match="expected a list"):
        load_config(None, ["data.sources=market1501"])


def test_round_trip() -> None:
    cfg = load_config(None, ["model.embed_dim=64"])
    assert config_from_dict(config_to_dict(cfg)) == cfg


def test_cli_typo_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = write(tmp_path / "cfg.yaml", "train:\n  epcohs: 5\n")
    assert main(["config", str(f)]) == 2
    err = capsys.readouterr().err
    assert "unknown key train.epcohs" in err and "did you mean train.epochs?" in err


def test_renamed_key_is_translated_in_a_saved_config_and_named_elsewhere(tmp_path: Path) -> None:
    for old, new in ((True, "concat"), (False, "encoder")):
        saved = config_to_dict(load_config(None, ["method.name=episodic_plus"]))
        del saved["method"]["test_feature"]
        saved["method"]["concat_test"] = old  # a model file written before the rename
        assert config_from_dict(saved).method.own.test_feature == new
    with pytest.raises(ConfigError, match=r"concat_test .* renamed: use method.test_feature"):
        load_config(None, ["method.concat_test=false"])
    path = write(tmp_path / "c.yaml", "method:\n  concat_test: true\n")
    with pytest.raises(ConfigError, match=r"c.yaml.*true -> concat, false -> encoder"):
        load_config(path)


def test_a_mistyped_section_suggests_the_section(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "trian:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown key trian in .*did you mean train\? \(the s"):
        load_config(path)
    with pytest.raises(ConfigError, match="unknown key outptu_dir .*did you mean output_dir?"):
        load_config(None, ["outptu_dir=x"])
