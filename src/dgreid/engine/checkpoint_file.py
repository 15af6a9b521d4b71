"""The dgreid checkpoint file, of any kind: atomic writes, safe loads, and checks that say
exactly what does not fit (the trainer's ``last.pt`` on top of it: :mod:`dgreid.engine.resume`).

Format: a ``torch.save`` dict holding only tensors and plain Python values, so it loads with
``torch.load(weights_only=True)``; a pickle that carries code is refused, never run. Every file
has the header ``format`` (``"dgreid-checkpoint"``), ``version``, ``kind`` (``"train-state"`` for
the trainer's resumable state, ``"model"`` for weights only), ``method`` (its registered name)
and ``config`` (the run's config as a dict).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dgreid.errors import CheckpointError
from dgreid.utils.io import atomic_torch_save
from dgreid.utils.torch_file import safe_torch_load

FORMAT = "dgreid-checkpoint"
VERSION = 1
#: How many keys of each kind a mismatch message lists.
SHOW_KEYS = 5


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` (which must carry the header keys) atomically: old or new, never half."""
    for key in ("kind", "method"):
        if key not in state:
            raise ValueError(f"checkpoint state lacks the header key {key!r}")
    atomic_torch_save(path, {"format": FORMAT, "version": VERSION, **state})


def load_checkpoint(
    path: str | Path,
    expected_kind: str | None = None,
    expected_method: str | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a dgreid checkpoint safely and check its header; errors name ``path``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    state = safe_torch_load(path, "checkpoint", map_location)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a dgreid checkpoint (no '{FORMAT}' header)")
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {state.get('version')}, this dgreid reads "
            f"version {VERSION}"
        )
    if expected_kind is not None and state.get("kind") != expected_kind:
        raise CheckpointError(
            f"{path}: is a {state.get('kind')!r} checkpoint, expected {expected_kind!r}"
        )
    if expected_method is not None and state.get("method") != expected_method:
        raise CheckpointError(
            f"{path}: checkpoint of method {state.get('method')!r}, but this run uses method "
            f"{expected_method!r}"
        )
    return state


def _first(keys: list[str]) -> str:
    more = f" (+{len(keys) - SHOW_KEYS} more)" if len(keys) > SHOW_KEYS else ""
    return ", ".join(keys[:SHOW_KEYS]) + more


def load_state_dict_checked(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str,
    optional_prefix: str | None = None,
) -> None:
    """``module.load_state_dict`` that refuses any mismatch with one readable message.

    Keys under ``optional_prefix`` may be absent from ``state_dict`` (a model file leaves out
    the frozen per-domain extractors, which inference does not use).
    """
    own = module.state_dict()
    missing = [
        k
        for k in own
        if k not in state_dict and not (optional_prefix and k.startswith(optional_prefix))
    ]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state_dict
        and isinstance(state_dict[k], torch.Tensor)
        and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys: {_first(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_first(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches (checkpoint vs model): {_first(shapes)}")
        raise CheckpointError(
            f"{source}: weights do not fit {type(module).__name__} (wrong architecture or "
            f"config?); " + "; ".join(parts)
        )
    module.load_state_dict(state_dict, strict=optional_prefix is None)


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_diff(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Keys whose values differ, as ``key: saved -> current`` lines (sorted)."""
    a, b = flatten_config(saved), flatten_config(current)
    return [
        f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k, "<absent>") != b.get(k, "<absent>")
    ]


#: Keys that may differ on resume: they change how a run is watched or how fast it goes, or
#: where it lives (``output_dir``: a copied or moved run folder resumes at its new place), not
#: what it computes (``model.feat_dim``: retired, it was never read; runs saved before hold it).
#: The one rule for every resume check (run folder and trainer alike).
RESUME_FREE_KEYS = frozenset(
    {
        "train.log_every",
        "train.eval_every",
        "train.tensorboard",
        "data.workers",
        "data.cache",
        "data.cache_budget_mb",
        "eval.batch_size",
        "train.device",
        "train.threads",
        "model.feat_dim",
        "output_dir",
    }
)


def resume_diff(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """:func:`config_diff` less :data:`RESUME_FREE_KEYS`: what forbids resuming ``saved``."""
    return [
        line
        for line in config_diff(saved, current)
        if line.split(":", 1)[0] not in RESUME_FREE_KEYS
    ]


def save_model(
    path: str | Path, module: nn.Module, method: str, config: Mapping[str, Any] | None = None
) -> None:
    """Weights-only checkpoint (``kind="model"``) for evaluation and deployment."""
    save_checkpoint(
        path,
        {
            "kind": "model",
            "method": method,
            "config": dict(config or {}),
            "model": module.state_dict(),
        },
    )


def load_model_weights(module: nn.Module, path: str | Path, method: str | None = None) -> None:
    """Load the weights of a ``model`` or ``train-state`` checkpoint into ``module``."""
    state = load_checkpoint(path, expected_method=method)
    if "model" not in state:
        raise CheckpointError(f"{path}: checkpoint has no 'model' weights")
    load_state_dict_checked(module, state["model"], str(path))
