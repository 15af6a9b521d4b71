"""The one entry point from a run config to a method: :func:`method_from_config`.

Each method reads its own keys in its ``from_config`` (beside the method, with its settings
dataclass); this module only dispatches on ``method.name``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from dgreid.config.schema import Config
from dgreid.methods.base import BuildContext, Method
from dgreid.methods.registry import METHODS


def method_from_config(
    cfg: Config,
    num_classes: int,
    num_domains: int,
    extractors: Sequence[nn.Module] | None = None,
    *,
    total_steps: int = 0,
    pid_offset: int = 0,
    placeholder_extractors: bool = False,
) -> Method:
    """Build ``cfg.method.name`` for ``num_classes`` source ids over ``num_domains`` domains
    (the other arguments: :class:`~dgreid.methods.base.BuildContext`)."""
    cls = METHODS.get(cfg.method.name)  # unknown name -> KeyError listing the valid ones
    ctx = BuildContext(
        num_classes, num_domains, extractors, total_steps, pid_offset, placeholder_extractors
    )
    return cls.from_config(cfg, ctx)
