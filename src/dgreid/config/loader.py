"""Turn YAML files and ``key=value`` overrides into a :class:`~dgreid.config.schema.Config`.

Rules: a file may name one ``base:`` file (relative to itself) whose values it overrides; that
base may have a base of its own, and so on (a cycle is an error). Every key must exist in the
schema and every value must have the field's type (a float may be written ``1e-3``); an error
names the key, where it came from, and the closest valid key. Then every value is checked
against what its key allows (:mod:`dgreid.config.checks`).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dgreid.config.schema import Config, MethodConfig, MethodSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retired:
    """A key removed from the schema. ``now`` is the value every run now computes with (the
    switch's setting that stayed); None for a key nothing ever read."""

    now: Any = None


#: Keys removed from the schema. A saved config (a run folder's config.yaml, a model file, a
#: checkpoint) that holds any loads with one warning naming them. In a config file or an
#: override a removed switch is an error naming it; a key nothing ever read only warns there.
RETIRED_KEYS: dict[str, Retired] = {
    "model.feat_dim": Retired(),
    "method.encoder_affine": Retired(False),
    "method.stage1_init": Retired("shared"),
    "method.stage1_align": Retired("none"),
    "method.tri_global": Retired(True),
    "method.consis_global": Retired(True),
    "method.mixstyle": Retired(0.0),
    "method.f_from_e": Retired(1.0),
    "method.meta_lr": Retired(0.0),
    "method.episode_domains": Retired("uniform"),
    "method.memory_momentum": Retired(0.5),
    "method.memory": Retired("learned"),
    "method.extractor_id_loss": Retired(True),
    "method.extractor_tri": Retired(1.0),
    "method.head_warmup": Retired(0),
    "method.proj_init": Retired("random"),
}


class ConfigError(ValueError):
    """A config file or override is invalid. The CLI turns it into exit code 2."""


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _all_keys(cls: type, prefix: str = "") -> list[str]:
    """The dotted keys of ``cls``'s fields, without any method's own keys (:func:`all_keys`)."""
    keys = []
    for name, tp in _field_types(cls).items():
        if tp is MethodSettings:
            continue
        if dataclasses.is_dataclass(tp):
            keys.extend(_all_keys(tp, f"{prefix}{name}."))  # type: ignore[arg-type]
        else:
            keys.append(prefix + name)
    return keys


def method_keys() -> dict[str, list[str]]:
    """Every registered method's own keys: field name -> the methods that declare it."""
    from dgreid.methods.registry import METHODS, settings_type

    owners: dict[str, list[str]] = {}
    for name in METHODS.names():
        for f in dataclasses.fields(settings_type(name)):
            owners.setdefault(f.name, []).append(name)
    return owners


def all_keys() -> list[str]:
    """Every dotted key a config may set: the sections' and every registered method's own."""
    return _all_keys(Config) + [f"method.{leaf}" for leaf in method_keys()]


#: keys of earlier versions: old key -> (new key, old value -> new value). A saved config
#: (a run folder, a model file) is translated; a YAML file or an override is told the new key.
RENAMED_KEYS: dict[str, tuple[str, dict[Any, Any]]] = {
    "method.concat_test": ("method.test_feature", {True: "concat", False: "encoder"}),
}


def _unknown(key: str, source: str) -> ConfigError:
    if key in RENAMED_KEYS:
        new, values = RENAMED_KEYS[key]
        spelled = ", ".join(f"{yaml.safe_dump(old).split()[0]} -> {v}" for old, v in values.items())
        return ConfigError(f"key {key} in {source} was renamed: use {new} ({spelled})")
    if "." not in key:  # a section or output_dir: the closest of those
        sections = [f.name for f in dataclasses.fields(Config)]
        close = difflib.get_close_matches(key, sections, n=1, cutoff=0.5)
        if close and close[0] != "output_dir":
            return ConfigError(
                f"unknown key {key} in {source}; did you mean {close[0]}? "
                f"(the section of the {close[0]}.* keys)"
            )
    else:
        close = difflib.get_close_matches(key, all_keys(), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ConfigError(f"unknown key {key} in {source}{hint}")


def _renamed(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a saved config) with the keys of :data:`RENAMED_KEYS` translated."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for old, (new, values) in RENAMED_KEYS.items():
        section, leaf = old.split(".")
        if isinstance(out.get(section), dict) and leaf in out[section]:
            value = out[section].pop(leaf)
            new_section, new_leaf = new.split(".")
            out.setdefault(new_section, {}).setdefault(new_leaf, values.get(value, value))
    return out


def _coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted where floats are."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, key, source)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key} in {source}: {value!r} matches none of {tp}")
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(
                f"{key} in {source}: expected a list, got {type(value).__name__} {value!r}"
            )
        return [_coerce(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if tp is type(None):
        if value is None:
            return None
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        number = _float_text(value)
        if number is not None:
            return number
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    else:  # pragma: no cover - schema uses only the types above
        raise ConfigError(f"{key}: unsupported field type {tp}")
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"{key} in {source}: expected {name}, got {type(value).__name__} {value!r}")


def _float_text(value: Any) -> float | None:
    """``value`` as a float when it is a string YAML 1.1 left unread, such as ``1e-3`` (YAML 1.1
    reads an exponent only after a dot); None for any other value."""
    if not isinstance(value, str) or not _FLOAT_TEXT.fullmatch(value.strip()):
        return None
    return float(value)


_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")

#: where each key's value was set, as :func:`_apply` fills it: dotted key -> file or override
Origins = dict[str, str]


#: retired keys met in a saved config: dotted key -> the saved value
Found = dict[str, Any]


def _apply(
    obj: Any,
    data: dict[str, Any],
    source: str,
    prefix: str = "",
    origins: Origins | None = None,
    saved: Found | None = None,
) -> None:
    """Set the keys of ``data`` on ``obj``. ``saved`` is given for a config this program wrote
    (its retired keys are collected there, for :func:`_warn_retired`); without it ``data`` is
    a new file or an override, where a removed switch is an error."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'top level'} in {source}: expected a mapping")
    ftypes = _field_types(type(obj))
    for name, value in data.items():
        key = f"{prefix}{name}"
        if key in RETIRED_KEYS:
            _retired(key, value, source, saved)
            continue
        if not isinstance(name, str) or name not in ftypes:
            raise _unknown(str(key), source)
        tp = ftypes[name]
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                raise ConfigError(f"{key} in {source}: expected a mapping of {name}.* keys")
            _apply(getattr(obj, name), value, source, f"{key}.", origins, saved)
        else:
            setattr(obj, name, _coerce(value, tp, key, source))
            if origins is not None:
                origins[key] = source


#: the ``method:`` keys of every source, in order: (key, value, source, saved), ``saved`` as in
#: :func:`_apply`; read by :func:`_method_section` once the method's name is known
MethodItems = list[tuple[Any, Any, str, Found | None]]
OVERRIDE = "command-line override"


def _take_method(
    data: dict[str, Any], source: str, items: MethodItems, saved: Found | None = None
) -> dict[str, Any]:
    """``data`` without its ``method:`` section, whose keys are appended to ``items``."""
    if not isinstance(data, dict) or "method" not in data:
        return data
    section = data["method"]
    if not isinstance(section, dict):
        raise ConfigError(f"method in {source}: expected a mapping of method.* keys")
    items.extend((leaf, value, source, saved) for leaf, value in section.items())
    return {k: v for k, v in data.items() if k != "method"}


def _method_section(items: MethodItems, origins: Origins | None) -> MethodConfig:
    """The ``method:`` section from its keys in every source: the last ``name`` picks the
    method (and its settings type); the common keys and that method's own are set in order. A
    key that only other methods have is left out (a base shared by several methods sets the
    keys of each), logged; a key no method has is an error, as is a removed switch outside a
    saved config."""
    from dgreid.methods.registry import METHODS, settings_type

    name, named_in = MethodConfig.name, "the default"
    for leaf, value, source, _ in items:
        if leaf == "name":
            name, named_in = _coerce(value, str, "method.name", source), source
    if name not in METHODS:
        from dgreid.config.checks import RULES, problem_line

        raise ConfigError(
            problem_line("method.name", name, RULES["method.name"], {"method.name": named_in})
        )
    own = settings_type(name)()
    section = MethodConfig(name=name, own=own)
    common, own_types = _field_types(MethodConfig), _field_types(type(own))
    others = method_keys()
    for leaf, value, source, saved in items:
        key = f"method.{leaf}"
        if key in RETIRED_KEYS:
            _retired(key, value, source, saved)
            continue
        target: MethodConfig | MethodSettings
        if isinstance(leaf, str) and leaf in own_types:
            target, tp = own, own_types[leaf]
        elif isinstance(leaf, str) and leaf in common and common[leaf] is not MethodSettings:
            target, tp = section, common[leaf]
        elif isinstance(leaf, str) and leaf in others:
            level = logging.INFO if source == OVERRIDE else logging.DEBUG
            log.log(
                level, "%s in %s: a key of %s, not read by %s; left out",
                key, source, ", ".join(others[leaf]), name,
            )  # fmt: skip
            continue
        else:
            raise _unknown(key, source)
        setattr(target, leaf, _coerce(value, tp, key, source))
        if origins is not None:
            origins[key] = source
    return section


def _retired(key: str, value: Any, source: str, saved: Found | None) -> None:
    """A retired key: collected in ``saved`` (a saved config), else refused (a removed switch)
    or warned about (a key nothing ever read)."""
    if saved is not None:
        saved[key] = value
        return
    now = RETIRED_KEYS[key].now
    if now is None:
        log.warning("%s in %s is no longer a config key (nothing read it); ignored", key, source)
        return
    raise ConfigError(
        f"{key} in {source} was removed (every run now computes with {_spelled(now)}); "
        "delete it from the file or override"
    )


def _spelled(value: Any) -> str:
    return str(yaml.safe_dump(value).split("\n")[0])


def _warn_retired(found: Found, source: str) -> None:
    """One warning for the retired keys of a saved config, naming each; a value other than the
    one every run now computes with is marked, as the saved run computed something else."""
    if not found:
        return
    parts = []
    for key, value in found.items():
        now = RETIRED_KEYS[key].now
        differs = now is not None and value != now
        parts.append(
            f"{key}={_spelled(value)}" + (f" (now always {_spelled(now)})" if differs else "")
        )
    log.warning("%s holds keys this version no longer has, ignored: %s", source, ", ".join(parts))


def set_key(cfg: Config, key: str, value: Any, source: str, origins: Origins | None = None) -> None:
    """Set one dotted key, e.g. ``train.epochs``, with type checking."""
    parts = key.split(".")
    nested: dict[str, Any] = {parts[-1]: value}
    for p in reversed(parts[:-1]):
        nested = {p: nested}
    _apply(cfg, nested, source, origins=origins)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file") from e
    except RecursionError as e:  # PyYAML recurses once per nesting level
        raise ConfigError(f"{path}: not a config: lists or mappings nested too deeply") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def parse_overrides(items: list[str]) -> list[tuple[str, Any]]:
    """Parse ``key=value`` strings; values are read as YAML (``[a,b]`` is a list, ``5`` an int)."""
    out = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r}: empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {key}: cannot parse value {raw!r}: {e}") from e
        except RecursionError as e:
            raise ConfigError(f"override {key}: value nested too deeply") from e
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            value = [v.strip() for v in value]
        out.append((key, value))
    return out


def _file_chain(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """``path`` and the files its ``base:`` names, and theirs, farthest base first. A ``base:``
    is relative to the file that names it; a file met twice is a cycle, refused."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: list[Path] = []
    current = path
    while True:
        resolved = current.resolve()
        if resolved in seen:
            cycle = " -> ".join(str(p) for p in [*seen, resolved])
            raise ConfigError(f"base: the config files name each other in a cycle: {cycle}")
        seen.append(resolved)
        data = _read_yaml(current)
        base = data.pop("base", None)
        chain.append((current, data))
        if base is None:
            return chain[::-1]
        if not isinstance(base, str) or not base.strip():
            raise ConfigError(f"base in {current}: expected a file name, got {base!r}")
        current = current.parent / base


#: the name of a run folder's saved config (beside its checkpoints/ or model.pt)
RUN_CONFIG_NAME = "config.yaml"


def is_saved_run_config(path: Path) -> bool:
    """``path`` is a run folder's saved config: a config.yaml beside the run's checkpoints or
    model file (written by this program, so a retired key in it only warns)."""
    folder = path.parent
    return path.name == RUN_CONFIG_NAME and (
        (folder / "checkpoints").is_dir() or (folder / "model.pt").is_file()
    )


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, *, check: bool = True
) -> Config:
    """Build a Config from defaults, an optional YAML file (and its chain of bases), then
    overrides; then check every value (:func:`~dgreid.config.checks.check_config`) unless
    ``check`` is false. A run folder's saved config (:func:`is_saved_run_config`) is read as a
    saved config: keys renamed since are translated, retired ones warned about once."""
    from dgreid.config.checks import check_config

    cfg = Config()
    origins: Origins = {}
    items: MethodItems = []
    found: Found = {}
    if path is not None:
        for file, data in _file_chain(Path(path)):
            if is_saved_run_config(file):
                data = _take_method(_renamed(data), str(file), items, found)
                _apply(cfg, data, str(file), origins=origins, saved=found)
            else:
                _apply(cfg, _take_method(data, str(file), items), str(file), origins=origins)
    for key, value in parse_overrides(overrides or []):
        if key.split(".")[0] == "method":
            nested = {key.split(".", 1)[1]: value} if "." in key else value
            _take_method({"method": nested}, OVERRIDE, items)
        else:
            set_key(cfg, key, value, OVERRIDE, origins)
    cfg.method = _method_section(items, origins)
    if found:
        _warn_retired(found, str(path))
    if check:
        check_config(cfg, origins)
    return cfg


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain data (for saving beside a run); the method's own keys sit beside
    the common ones in ``method``."""
    data = dataclasses.asdict(cfg)
    if isinstance(cfg, Config):
        own = data["method"].pop("own")
        data["method"].update(own)
    return data


def current_layout(data: dict[str, Any], source: str = "saved config") -> dict[str, Any]:
    """A saved config's data in this version's layout (keys renamed, retired or moved into a
    method's own settings since it was saved), so it compares with a config by what it
    computes."""
    return config_to_dict(config_from_dict(data, source))


def read_saved_config(path: Path) -> dict[str, Any]:
    """A run's saved config file in this version's layout (see :func:`current_layout`); a
    file that is not YAML, or not a mapping of config keys, raises a ConfigError naming it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as err:
        where = f" at line {err.problem_mark.line + 1}" if err.problem_mark else ""
        raise ConfigError(f"{path}: not valid YAML: {err.problem}{where}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: {type(err).__name__}: {' '.join(str(err).split())}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, found {type(data).__name__}")
    try:
        return current_layout(data, str(path))
    except TypeError as err:  # a value of a shape no check foresaw: still the file's fault
        raise ConfigError(f"{path}: {err}") from None


def config_from_dict(data: dict[str, Any], source: str = "saved config") -> Config:
    """A saved config back: keys renamed since it was saved are translated, and the retired
    keys it holds are ignored with one warning naming them."""
    cfg = Config()
    found: Found = {}
    items: MethodItems = []
    _apply(cfg, _take_method(_renamed(data), source, items, found), source, saved=found)
    cfg.method = _method_section(items, None)
    _warn_retired(found, source)
    return cfg


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
