"""Each method owns its settings: the ``method:`` section holds the common keys and the chosen
method's own; old flat configs (run folders, model files) keep loading."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from dgreid.cli.main import main
from dgreid.config import ConfigError, load_config
from dgreid.config.loader import config_from_dict, config_to_dict
from dgreid.config.schema import MethodConfig
from dgreid.experiments.rundir import prepare_run_dir
from dgreid.methods.baseline import BaselineSettings
from dgreid.methods.episodic import EpisodicSettings
from dgreid.methods.episodic_plus import EpisodicPlusSettings

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

#: the ``method:`` section every run saved before each method owned its settings: every
#: method's keys in one flat bag (the removed switches at their last defaults)
OLD_FLAT_METHOD = {
    "name": "baseline", "label_smooth": 0.1, "margin": 0.3, "lambda_tri": 0.2,
    "lambda_consis": 0.01, "lambda_domain": 0.1, "bnneck": True, "feature_tri": 1.0,
    "stage1_epochs": 8, "stage0_epochs": 16, "normalize": False, "encoder_affine": False,
    "extractor_feature": "raw", "stage1_init": "shared", "stage1_align": "none",
    "f_start": "shared", "tri_global": True, "consis_global": True, "test_feature": "backbone",
    "mixstyle": 0.0, "f_tri": 0.0, "f_id": 0.0, "mixed_episodes": False, "f_from_e": 1.0,
    "meta_lr": 0.0, "episode_domains": "uniform",
    "stage1_lr_steps": [], "memory_momentum": 0.5, "memory": "learned",
    "extractor_id_loss": True, "extractor_tri": 1.0, "stage1_dir": "",
}  # fmt: skip


def test_a_baselines_resolved_config_shows_no_episodic_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", str(CONFIGS / "synthetic" / "baseline.yaml")]) == 0
    method = yaml.safe_load(capsys.readouterr().out)["method"]
    assert method == {
        "name": "baseline", "label_smooth": 0.1, "margin": 0.3, "bnneck": True,
        "feature_tri": 1.0,
    }  # fmt: skip
    plus = config_to_dict(load_config(CONFIGS / "synthetic" / "episodic_plus.yaml"))["method"]
    fields = {f.name for f in dataclasses.fields(EpisodicPlusSettings)}
    assert set(plus) == {"name", "label_smooth", "margin"} | fields
    assert "bnneck" not in plus and plus["f_start"] == "own"


def test_the_last_name_picks_the_settings_and_the_method_keys_follow_it() -> None:
    """A base shared by several methods sets keys of each; the chosen method keeps its own,
    whatever order the name and its keys come in."""
    cfg = load_config(CONFIGS / "synthetic" / "baseline.yaml", ["method.name=episodic"])
    assert cfg.method.own == EpisodicSettings(stage1_epochs=8, stage0_epochs=16)
    cfg = load_config(None, ["method.lambda_tri=0.5", "method.name=episodic_plus"])
    assert isinstance(cfg.method.own, EpisodicPlusSettings) and cfg.method.own.lambda_tri == 0.5
    # a key only other methods have is left out; a key no method has is an error
    assert load_config(None, ["method.name=dimn", "method.lambda_tri=0.5"]).method.own.rules == {}
    with pytest.raises(ConfigError, match="unknown key method.lambda_trii .*method.lambda_tri"):
        load_config(None, ["method.lambda_trii=0.5"])


def test_method_config_of_a_name_gets_its_settings() -> None:
    assert MethodConfig.of("dann").own.lambda_domain == 0.1  # type: ignore[attr-defined]
    assert MethodConfig.of("baseline", bnneck=True).own == BaselineSettings(bnneck=True)
    with pytest.raises(KeyError, match="did you mean 'dann'"):
        MethodConfig.of("danm")


def test_an_old_flat_saved_config_loads_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A run folder or model file written with every method's keys in one bag: the chosen
    method's keys are read, the others' left out, the removed switches named in one warning."""
    saved = config_to_dict(load_config(CONFIGS / "synthetic" / "baseline.yaml"))
    saved["method"] = dict(OLD_FLAT_METHOD)
    with caplog.at_level("WARNING"):
        cfg = config_from_dict(saved, "model.pt (stored config)")
    assert cfg.method.own == BaselineSettings(bnneck=True, feature_tri=1.0)
    assert cfg == load_config(CONFIGS / "synthetic" / "baseline.yaml")
    (record,) = caplog.records
    assert "method.meta_lr=0.0" in record.getMessage() and "now always" not in record.getMessage()
    # the run folder resumes: its saved config compares by what it computes
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    saved["output_dir"] = str(run)
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    resumed = load_config(run / "config.yaml")
    assert resumed.method.own == cfg.method.own
    assert prepare_run_dir(resumed, resume=True, overwrite=False) == run
    assert "meta_lr" not in (run / "config.yaml").read_text()  # saved again, this layout
