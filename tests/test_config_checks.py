"""Every value of the run config is checked once, when the config is read: `dgreid config` and
`dgreid train` refuse a bad value with exit code 2 before any file is written or data read."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dgreid.cli.main import main
from dgreid.config import ConfigError, load_config
from dgreid.config.checks import RULES, config_problems
from dgreid.config.loader import _all_keys
from dgreid.config.schema import Config
from dgreid.evaluation.distance import METRICS
from dgreid.methods import METHODS
from dgreid.methods.registry import settings_type
from dgreid.models import BACKBONES

#: (override, what the message must say is allowed)
BAD_VALUES = [
    ("train.epochs=-1", "an integer >= 1"),
    ("train.iters_per_epoch=-2", "an integer >= 0"),
    ("data.batch_size=-4", "an integer >= 1"),
    ("eval.batch_size=0", "an integer >= 1"),
    ("data.height=0", "an integer >= 1"),
    ("data.width=-3", "an integer >= 1"),
    ("train.lr=-0.1", "a number > 0"),
    ("train.lr=0", "a number > 0"),
    ("model.backbone=resnet5", "resnet50"),
    ("model.extractor=resnet181", "resnet18"),
    ("method.name=episodc", "episodic"),
    ("eval.metric=manhattan", "euclidean, cosine"),
    ("train.amp=fp8", "none, bf16, fp16"),
    ("train.optimizer=adamw", "sgd, adam"),
    ("data.cache=disk", "auto, memory, none"),
    ("method.f_start=both", "own, shared"),
    ("train.device=gpu", "auto, cpu, cuda or cuda:N"),
    ("data.targets=[]", "a non-empty list"),
    ("data.sources=[]", "a non-empty list"),
    ("data.sources=[market1501, dukemtmc, nowhere]", "a dataset name"),
    ("data.source_holdout=1", "[0, 1)"),
    ("data.pad=-1", "an integer >= 0"),
    ("data.color_jitter=-0.2", "a number >= 0"),
    ("data.grayscale=1.5", "a number in [0, 1]"),
    ("data.erasing=1.5", "a number in [0, 1]"),
    ("method.label_smooth=1.5", "[0, 1)"),
    ("train.lr_steps=[0]", "each item an integer >= 1"),
    ("eval.num_splits=0", "an integer >= 1"),
    ("eval.rerank_k1=0", "an integer >= 1"),
    ("eval.rerank_k2=-1", "an integer >= 1"),
    ("eval.rerank_lambda=1.5", "[0, 1]"),
    ("data.synth_version=7", "1, 2, 3"),
    ("output_dir=' '", "not empty"),
]


@pytest.mark.parametrize("override, allowed", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_config_refuses_a_bad_value_naming_key_value_and_what_is_allowed(
    override: str, allowed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", override]) == 2
    err = capsys.readouterr().err
    key, value = override.split("=", 1)
    assert f"{key}=" in err and value.strip("'[] ").split(",")[-1].strip() in err
    assert allowed in err and "command-line override" in err


def test_a_methods_own_key_is_checked_by_its_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "method.name=episodic_plus", "method.test_feature=neck"]) == 2
    err = capsys.readouterr().err
    assert "method.test_feature='neck'" in err and "backbone, concat, encoder" in err
    assert "command-line override" in err


def test_an_infinite_number_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"train.weight_decay=inf .*a number >= 0"):
        load_config(None, ["train.weight_decay=1e999"])


def test_a_typo_in_a_name_gets_the_closest_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "method.name=episodc"]) == 2
    assert "did you mean 'episodic' for 'episodc'?" in capsys.readouterr().err


def test_every_key_has_a_rule() -> None:
    assert set(RULES) == set(_all_keys(Config))
    for name in METHODS.names():  # a method's own keys: in its settings' rules
        own = settings_type(name)
        assert set(own.rules) == {f.name for f in dataclasses.fields(own)}, name


def test_the_names_are_the_registries_own() -> None:
    for name in BACKBONES.names():
        assert load_config(None, [f"model.backbone={name}", f"model.extractor={name}"])
    for name in METHODS.names():
        extra = ["data.sources=[market1501, dukemtmc, cuhk02]"]
        assert load_config(None, [f"method.name={name}", *extra]).method.name == name
    for metric in METRICS:
        assert load_config(None, [f"eval.metric={metric}"]).eval.metric == metric
    assert load_config(None, ["data.targets=[custom:site_a]"]).data.targets == ["custom:site_a"]


def test_every_problem_is_listed_at_once_with_the_file_it_came_from(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  epochs: 0\n  lr: -1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, ["data.height=0"])
    msg = str(err.value)
    assert msg.startswith("3 invalid values")
    assert f"train.epochs=0 (from {path})" in msg and f"train.lr=-1.0 (from {path})" in msg
    assert "data.height=0 (from command-line override)" in msg


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["data.batch_size=30"], "data.batch_size=30: expected a multiple of data.num_instances=4"),
        (
            ["method.name=episodic", "data.sources=[market1501, dukemtmc]"],
            "needs at least 3 source domains",
        ),
        (["data.synth_shifts=[colour]"], "unknown synthetic shift family 'colour'"),
        (["eval.probe_cams=[1]"], "cannot be both probe and gallery cameras"),
        (
            ["data.sources=[viper, grid, prid]", "data.targets=[viper, ilids]"],
            "viper also in data.sources",
        ),
    ],
)
def test_rules_across_keys(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(None, overrides)


def test_defaults_pass_and_check_false_skips_the_rules() -> None:
    assert config_problems(Config()) == []
    cfg = load_config(None, ["train.epochs=-1"], check=False)
    assert config_problems(cfg) == ["train.epochs=-1: expected an integer >= 1"]


def test_train_refuses_before_writing_or_reading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """data.root does not exist: had the run got as far as the data, the error would be a
    dataset error (exit 1); the run folder is never created."""
    out = tmp_path / "run"
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  root: {tmp_path / 'nothing'}\noutput_dir: {out}\n")
    for bad in ("train.epochs=-1", "eval.metric=manhattan", "train.lr=-0.1", "data.targets=[]"):
        assert main(["train", str(config), bad]) == 2
        assert bad.split("=")[0] in capsys.readouterr().err
        assert not out.exists()


# ---- numbers written as YAML 1.1 leaves them (a string) ----


def test_an_exponent_reads_as_a_float_in_an_override_and_in_a_file(tmp_path: Path) -> None:
    assert load_config(None, ["train.lr=1e-3"]).train.lr == pytest.approx(0.001)
    assert load_config(None, ["train.weight_decay=5E-4"]).train.weight_decay == pytest.approx(5e-4)
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 1e-3\n  momentum: .9\n")
    cfg = load_config(path)
    assert isinstance(cfg.train.lr, float) and cfg.train.lr == pytest.approx(0.001)
    assert cfg.train.momentum == pytest.approx(0.9)
    with pytest.raises(ConfigError, match="train.lr in command-line override: expected float"):
        load_config(None, ["train.lr=1e-3x"])
    with pytest.raises(ConfigError, match="train.epochs .*expected int"):
        load_config(None, ["train.epochs=1e3"])  # only float fields read an exponent


# ---- base: chains ----


def test_a_base_may_have_a_base_of_its_own(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("train:\n  epochs: 3\n  lr: 0.5\n  gamma: 0.2\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("base: ../a.yaml\ntrain:\n  lr: 0.25\n")
    c = tmp_path / "c.yaml"
    c.write_text("base: sub/b.yaml\ntrain:\n  epochs: 7\n")
    cfg = load_config(c)
    assert (cfg.train.epochs, cfg.train.lr, cfg.train.gamma) == (7, 0.25, 0.2)


def test_a_shipped_method_config_is_a_base(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[1] / "configs" / "cpu-real" / "baseline.yaml"
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"base: {shipped}\ntrain:\n  lr: 1e-3\n")
    cfg, original = load_config(mine), load_config(shipped)
    assert cfg.train.lr == pytest.approx(0.001) and cfg.method.name == original.method.name
    assert cfg.model == original.model and cfg.data == original.data


def test_a_cycle_of_bases_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match=r"cycle: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "self.yaml").write_text("base: self.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "self.yaml")
    (tmp_path / "lost.yaml").write_text("base: gone.yaml\n")
    with pytest.raises(ConfigError, match="config file not found: .*gone.yaml"):
        load_config(tmp_path / "lost.yaml")
