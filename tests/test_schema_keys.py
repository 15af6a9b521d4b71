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

import dgreid
from dgreid.config import load_config
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
