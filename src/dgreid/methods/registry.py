"""The method registry.

Contract of :data:`METHODS`: a name maps to a :class:`~dgreid.methods.base.Method` subclass
whose constructor takes explicit keyword arguments and does no I/O beyond what
:func:`dgreid.models.build_backbone` does. :func:`build_method` is the by-name entry point;
:func:`dgreid.methods.method_from_config` maps a run config onto those arguments.
"""

from __future__ import annotations

from typing import Any

from dgreid.methods.base import Method
from dgreid.registry import Registry

METHODS: Registry[type[Method]] = Registry("method")


def build_method(name: str, **kwargs: Any) -> Method:
    """Construct method ``name`` with its constructor's keyword arguments (see each class)."""
    return METHODS.get(name)(**kwargs)
