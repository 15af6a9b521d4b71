"""Every key of the run config is read somewhere: a schema field that no code reads is a dead key
(a user sets it and nothing changes).

"Read" means an attribute access ``<anything>.<section>.<field>`` (e.g. ``cfg.train.lr``) in the
library outside ``dgreid/config/`` (which only parses and validates), found in the syntax tree,
so strings, comments and docstrings that name a key do not count. The ``train`` section reaches
the trainer whole (``TrainSettings`` is ``TrainConfig`` plus three keys), so a ``train`` key also
counts as read where the engine loads it as ``<anything>.<field>``.
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

import dgreid
from dgreid.config import ConfigError, load_config
from dgreid.config.loader import RETIRED_KEYS, config_from_dict, config_to_dict
from dgreid.config.schema import Config

SRC = Path(dgreid.__file__).resolve().parent


def schema_keys() -> list[tuple[str, str]]:
    """``(section, field)`` for every leaf of :class:`Config`; ``("", field)`` at the top."""
    keys = []
    hints = typing.get_type_hints(Config)
    for section in dataclasses.fields(Config):
        tp = hints[section.name]
        if dataclasses.is_dataclass(tp):
            keys += [(section.name, f.name) for f in dataclasses.fields(tp)]  # type: ignore[arg-type]
        else:
            keys.append(("", section.name))
    return keys


def attribute_reads() -> tuple[set[tuple[str, str]], set[str]]:
    """``(section, field)`` of every loaded ``x.section.field`` (and ``("train", attr)`` of every
    ``x.attr`` loaded in the engine), and every loaded ``x.attr``."""
    pairs: set[tuple[str, str]] = set()
    attrs: set[str] = set()
    for path in SRC.rglob("*.py"):
        package = path.relative_to(SRC).parts[0]
        if package == "config":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                attrs.add(node.attr)
                if isinstance(node.value, ast.Attribute):
                    pairs.add((node.value.attr, node.attr))
                if package == "engine":
                    pairs.add(("train", node.attr))
    return pairs, attrs


READS = attribute_reads()


@pytest.mark.parametrize("section,name", schema_keys())
def test_every_schema_key_is_read(section: str, name: str) -> None:
    pairs, attrs = READS
    read = (section, name) in pairs if section else name in attrs
    key = f"{section}.{name}" if section else name
    assert read, (
        f"config key {key} is read nowhere in src/dgreid outside config/: wire it up "
        f"(e.g. in engine/trainer.py or methods/factory.py) or remove it from the schema"
    )


def test_every_methods_own_key_is_read() -> None:
    """A method's own keys (its settings dataclass) are read too, e.g. ``own.lambda_tri``."""
    from dgreid.methods.registry import METHODS, settings_type

    _, attrs = READS
    for name in METHODS.names():
        if not METHODS.get(name).__module__.startswith("dgreid."):
            continue  # a method registered by a test (tests/example_method.py)
        for f in dataclasses.fields(settings_type(name)):
            assert f.name in attrs, f"method.{f.name} ({name}) is read nowhere in src/dgreid"


def test_retired_keys_are_gone_but_old_configs_still_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A key removed as dead (never read) is not in the schema; a config file or a saved run
    config that still holds it loads, with a warning naming it."""
    assert "model.feat_dim" in RETIRED_KEYS
    assert ("model", "feat_dim") not in schema_keys()
    old = tmp_path / "old.yaml"
    old.write_text("model:\n  feat_dim: 512\n  embed_dim: 64\n")
    assert load_config(old).model.embed_dim == 64
    assert "model.feat_dim" in caplog.text and str(old) in caplog.text
    saved = config_to_dict(Config())
    saved["model"]["feat_dim"] = 512
    assert config_from_dict(saved) == Config()


def old_saved_config() -> dict:
    """A resolved config as runs saved it before the research switches were removed: every
    method key in one flat ``method:`` section, a removed switch set to a variant now gone."""
    saved = config_to_dict(Config())
    saved["method"].update(
        {"meta_lr": 0.1, "mixstyle": 0.0, "memory": "learned", "stage1_init": "shared"}
    )
    return saved


def test_a_removed_switch_in_a_config_file_or_override_is_an_error_naming_it(
    tmp_path: Path,
) -> None:
    from dgreid.cli.main import main

    new = tmp_path / "new.yaml"
    new.write_text("method:\n  name: episodic\n  meta_lr: 0.1\n")
    with pytest.raises(ConfigError, match=rf"method.meta_lr in {new} was removed .*0.0"):
        load_config(new)
    with pytest.raises(ConfigError, match="method.mixstyle in command-line override was removed"):
        load_config(None, ["method.mixstyle=0.5"])
    assert main(["config", str(new)]) == 2


def test_a_saved_config_with_retired_keys_loads_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A model file's or a run folder's saved config loads; one warning names every retired key
    and marks the one whose saved value differs from what every run now computes with."""
    with caplog.at_level("WARNING"):
        assert config_from_dict(old_saved_config(), "model.pt (stored config)") == Config()
    (record,) = caplog.records
    text = record.getMessage()
    assert text.startswith("model.pt (stored config) holds keys")
    assert "method.meta_lr=0.1 (now always 0.0)" in text
    assert "method.memory=learned," in text and "method.stage1_init=shared" in text
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(old_saved_config()))
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert load_config(run / "config.yaml", ["train.epochs=3"]).train.epochs == 3
    assert len(caplog.records) == 1 and "method.meta_lr=0.1" in caplog.text
    loose = tmp_path / "config.yaml"  # the same file outside a run folder is a new config
    loose.write_text(yaml.safe_dump(old_saved_config()))
    with pytest.raises(ConfigError, match=r"method\.\w+ in .* was removed"):
        load_config(loose)
