"""Typed run configuration: dataclasses, YAML files with ``base:`` chains, dotted overrides.

Only the CLI edge reads YAML; the library takes explicit arguments.
"""

from dgreid.config.loader import ConfigError, config_to_dict, load_config, parse_overrides
from dgreid.config.schema import (
    Config,
    DataConfig,
    EvalConfig,
    MethodConfig,
    ModelConfig,
    TrainConfig,
)

__all__ = [
    "Config",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "MethodConfig",
    "ModelConfig",
    "TrainConfig",
    "config_to_dict",
    "load_config",
    "parse_overrides",
]
