"""The method registry.

Contract of :data:`METHODS`: a name maps to a :class:`~dgreid.methods.base.Method` subclass
whose constructor takes explicit keyword arguments and does no I/O beyond what
:func:`dgreid.models.build_backbone` does, and whose ``from_config`` maps a run config onto
those arguments. :func:`register_method` registers the class together with its settings type
(its own ``method.*`` keys, a :class:`~dgreid.config.schema.MethodSettings`).
:func:`build_method` is the by-name entry point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dgreid.config.schema import MethodSettings
from dgreid.methods.base import Method
from dgreid.registry import Registry

METHODS: Registry[type[Method]] = Registry("method")
_SETTINGS: dict[str, type[MethodSettings]] = {}

M = type[Method]


def register_method(name: str, settings: type[MethodSettings] = MethodSettings) -> Callable[[M], M]:
    """Register a method class under ``name`` with ``settings``, the dataclass of its own
    config keys (the base: none). Every field of ``settings`` needs a rule in its ``rules``."""

    def deco(cls: M) -> M:
        METHODS.register(name)(cls)
        _SETTINGS[name] = settings
        return cls

    return deco


def settings_type(name: str) -> type[MethodSettings]:
    """The settings dataclass of method ``name`` (an unknown name lists the valid ones)."""
    METHODS.get(name)
    return _SETTINGS[name]


def build_method(name: str, **kwargs: Any) -> Method:
    """Construct method ``name`` with its constructor's keyword arguments (see each class)."""
    return METHODS.get(name)(**kwargs)
