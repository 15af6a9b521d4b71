"""The comparison spec: one shared run config plus, per method, the overrides that make it.

A spec file (YAML)::

    config: base.yaml          # the shared run config (relative to this file)
    output_dir: runs/compare   # one sub-folder per method and seed
    seeds: [0]
    overrides:                 # on every row, before the row's own
      - data.targets=[market1501]
    methods:
      baseline: baseline.yaml                    # a run config of its own (relative to this file)
      no_tri: {config: episodic.yaml, overrides: [method.lambda_tri=0.0]}
      tiny: [method.name=baseline, model.backbone=resnet_tiny]   # overrides of ``config``

A row that names its method's config file trains exactly what ``dgreid train`` trains with that
file, so a method's best recipe is written once; ``overrides`` then moves every row to other data
or another evaluation protocol at once (configs/protocols/). ``config`` is needed only by rows
that are a list of overrides.

Method names that the paper's tables know (``baseline``, ``dann``, ``dualnorm``, ``dimn``,
``episodic``, ``episodic_no_tri``, ``episodic_no_consis``) land in Tables III-V.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dgreid.config import Config, ConfigError, load_config

SPEC_KEYS = ("config", "output_dir", "seeds", "methods", "overrides", "quick")
#: what every row of one comparison must share (its splits are drawn once, from the first row)
SAME_DATA = ("root", "sources", "targets")


@dataclass
class MethodRow:
    """One method of a spec: a run config (None: the spec's shared one) and overrides on it."""

    config: Path | None = None
    overrides: list[str] = field(default_factory=list)


@dataclass
class CompareSpec:
    """A parsed comparison spec; ``config`` is resolved relative to the spec file."""

    config: Path | None  # None: the schema defaults
    output_dir: str
    seeds: list[int] = field(default_factory=lambda: [0])
    methods: dict[str, MethodRow] = field(default_factory=dict)
    #: overrides applied to every run by ``--quick`` (a smaller budget for smoke runs)
    quick: list[str] = field(default_factory=list)
    source: str = ""
    #: overrides of every row, applied before the row's own (e.g. a protocol's data and eval)
    overrides: list[str] = field(default_factory=list)

    def run_config(self, method: str, seed: int, extra: list[str] | None = None) -> Config:
        """The resolved config of one run, with its own output folder and seed."""
        row = self.methods[method]
        overrides = [
            *self.overrides,
            *row.overrides,
            f"train.seed={seed}",
            f"output_dir={Path(self.output_dir) / f'{method}-seed{seed}'}",
            *(extra or []),
        ]
        return load_config(row.config or self.config, overrides)


def _str_list(value: Any, key: str, source: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} in {source}: expected a list of key=value strings")
    return list(value)


def _method_row(value: Any, key: str, spec_file: Path) -> MethodRow:
    """A row as written: overrides (a list), a config file (a string), or both (a mapping)."""
    if isinstance(value, str):
        value = {"config": value}
    if isinstance(value, list):
        return MethodRow(None, _str_list(value, key, str(spec_file)))
    if not isinstance(value, dict) or not set(value) <= {"config", "overrides"} or not value:
        raise ConfigError(
            f"{key} in {spec_file}: expected a config file, a list of key=value overrides, or "
            "a mapping with keys config and overrides"
        )
    row = MethodRow(None, _str_list(value.get("overrides"), f"{key}.overrides", str(spec_file)))
    if "config" in value:
        if not isinstance(value["config"], str):
            raise ConfigError(f"{key}.config in {spec_file}: expected a file name")
        row.config = (spec_file.parent / value["config"]).resolve()
        if not row.config.is_file():
            raise ConfigError(f"{key}.config in {spec_file}: config file not found: {row.config}")
    return row


def load_spec(path: str | Path) -> CompareSpec:
    """Read and validate a comparison spec; errors name the key and the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"comparison spec not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file") from e
    except RecursionError as e:
        raise ConfigError(f"{path}: not a spec: lists or mappings nested too deeply") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for key in data:
        if key not in SPEC_KEYS:
            close = difflib.get_close_matches(str(key), SPEC_KEYS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown key {key} in {path}{hint}")
    for key in ("output_dir", "methods"):
        if key not in data:
            raise ConfigError(f"{path}: missing key {key}")
    methods = data["methods"]
    if not isinstance(methods, dict) or not methods:
        raise ConfigError(f"methods in {path}: expected a non-empty mapping name -> row")
    rows = {str(k): _method_row(v, f"methods.{k}", path) for k, v in methods.items()}
    shared = [k for k, row in rows.items() if row.config is None]
    if shared and "config" not in data:
        raise ConfigError(
            f"{path}: missing key config (the shared run config of methods {', '.join(shared)})"
        )
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigError(f"seeds in {path}: expected a non-empty list of integers")
    spec = CompareSpec(
        config=(path.parent / str(data["config"])).resolve() if "config" in data else None,
        output_dir=str(data["output_dir"]),
        seeds=seeds,
        methods=rows,
        quick=_str_list(data.get("quick"), "quick", str(path)),
        source=str(path),
        overrides=_str_list(data.get("overrides"), "overrides", str(path)),
    )
    first: tuple[str, dict[str, Any]] | None = None
    for name in spec.methods:  # fail early on a bad override, naming the method
        try:
            cfg = spec.run_config(name, spec.seeds[0])
        except ConfigError as e:
            raise ConfigError(f"methods.{name} in {path}: {e}") from e
        data_of = {key: getattr(cfg.data, key) for key in SAME_DATA}
        first = first or (name, data_of)
        for key, value in data_of.items():  # one table compares methods on the same data
            if value != first[1][key]:
                raise ConfigError(
                    f"methods.{name} in {path}: data.{key} is {value!r}, but methods.{first[0]} "
                    f"has {first[1][key]!r}; every row of a comparison trains and tests on the "
                    "same data"
                )
    return spec
