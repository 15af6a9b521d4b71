"""The inference model file (``model.pt``): weights plus the metadata needed to use them.

A model file is a dict of plain data and tensors only, so it loads with
``torch.load(weights_only=True)`` (no code is ever unpickled)::

    {"format": "dgreid-model", "version": 1,
     "meta": {method, backbone, input_size [h, w], feat_dim, sources, num_classes, num_domains,
              mean, std, dgreid_version, created, metric, flip},
     "config": <the run's config as a dict>,
     "state_dict": {name: tensor}}

Frozen per-domain extractors (the episodic method's F_i) are dropped: inference needs only E(F(x)).
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dgreid.config.loader import ConfigError, config_from_dict, config_to_dict
from dgreid.config.schema import Config
from dgreid.engine.checkpoint_file import load_state_dict_checked
from dgreid.errors import CheckpointError, DgreidError
from dgreid.utils.io import atomic_torch_save
from dgreid.utils.torch_file import safe_torch_load

FORMAT = "dgreid-model"
VERSION = 1
#: Name of the state-dict sub-tree holding the frozen per-domain extractors.
EXTRACTOR_PREFIX = "extractors."

#: Rebuilds the network of a method: ``(cfg, num_classes, num_domains) -> module``.
Builder = Callable[[Config, int, int], nn.Module]


@dataclass(frozen=True)
class ModelMeta:
    """What a user of a trained model must know to feed it and interpret its output."""

    method: str
    backbone: str
    input_size: tuple[int, int]  # (height, width)
    feat_dim: int
    sources: list[str]
    num_classes: int
    num_domains: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dgreid_version: str
    created: str
    #: the distance the run was evaluated with (``eval.metric``); "" in files written before
    #: it was recorded
    metric: str = ""
    #: whether a feature is the mean of the image's and its mirror's (``eval.flip``); false in
    #: files written before it was recorded
    flip: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, data: Any, source: str) -> ModelMeta:
        """Parse stored metadata; a missing or mistyped field raises :class:`CheckpointError`."""
        if not isinstance(data, dict):
            raise CheckpointError(f"{source}: 'meta' is not a mapping")
        names = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [n for n in names if n not in data]
        if missing:
            raise CheckpointError(f"{source}: metadata lacks {', '.join(missing)}")
        try:
            h, w = (int(v) for v in data["input_size"])
            return cls(
                method=str(data["method"]),
                backbone=str(data["backbone"]),
                input_size=(h, w),
                feat_dim=int(data["feat_dim"]),
                sources=[str(s) for s in data["sources"]],
                num_classes=int(data["num_classes"]),
                num_domains=int(data["num_domains"]),
                mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
                std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
                dgreid_version=str(data["dgreid_version"]),
                created=str(data["created"]),
                metric=str(data.get("metric", "")),
                flip=_flag(data.get("flip", False), "flip", source),
            )
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{source}: malformed metadata ({e})") from e


def make_meta(cfg: Config, method: nn.Module, num_classes: int, num_domains: int) -> ModelMeta:
    """Metadata for ``method`` trained with ``cfg``; ``feat_dim`` is measured on a dummy input."""
    from dgreid import __version__
    from dgreid.data.transforms import MEAN, STD

    h, w = cfg.data.height, cfg.data.width
    was_training = method.training
    method.eval()
    try:
        device = next(iter(method.parameters())).device
        with torch.no_grad():
            feat = method.embed(torch.zeros(1, 3, h, w, device=device))  # type: ignore[operator]
    finally:
        method.train(was_training)
    return ModelMeta(
        method=cfg.method.name,
        backbone=cfg.model.backbone,
        input_size=(h, w),
        feat_dim=int(feat.shape[-1]),
        sources=list(cfg.data.sources),
        num_classes=num_classes,
        num_domains=num_domains,
        mean=MEAN,
        std=STD,
        dgreid_version=__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        metric=cfg.eval.metric,
        flip=cfg.eval.flip,
    )


def _flag(value: Any, name: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise CheckpointError(f"{source}: metadata field {name!r} is {value!r}, not true or false")
    return value


def inference_state_dict(method: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict without frozen extractor weights (and their modules' buffers), on CPU."""
    drop: set[str] = set()
    for mod_name, mod in method.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        if not prefix.startswith(EXTRACTOR_PREFIX):
            continue
        own_params = list(mod.named_parameters(recurse=False))
        frozen = all(not p.requires_grad for _, p in own_params)
        for name, p in own_params:
            if not p.requires_grad:
                drop.add(prefix + name)
        if frozen:
            drop.update(prefix + name for name, _ in mod.named_buffers(recurse=False))
    return {
        k: v.detach().to("cpu").contiguous().clone()
        for k, v in method.state_dict().items()
        if k not in drop
    }


def save_model_file(path: str | Path, method: nn.Module, cfg: Config, meta: ModelMeta) -> None:
    """Write the inference model file atomically (see the module docstring for the format)."""
    atomic_torch_save(
        path,
        {
            "format": FORMAT,
            "version": VERSION,
            "meta": meta.to_dict(),
            "config": config_to_dict(cfg),
            "state_dict": inference_state_dict(method),
        },
    )


@dataclass
class LoadedModel:
    """A rebuilt method in eval mode with its metadata and config."""

    method: nn.Module
    meta: ModelMeta
    config: Config


def read_model_file(path: str | Path) -> dict[str, Any]:
    """Load and check the raw dict of a model file without unpickling any code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: model file not found")
    data = safe_torch_load(path, "model file")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"{path}: not a dgreid model file (expected format {FORMAT!r}, got {got!r}); "
            "training checkpoints are not model files: use the run's model.pt"
        )
    if data.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: model file version {data.get('version')!r} is not supported "
            f"(this dgreid reads version {VERSION})"
        )
    for key, kind in (("meta", dict), ("config", dict), ("state_dict", dict)):
        if not isinstance(data.get(key), kind):
            raise CheckpointError(f"{path}: '{key}' is missing or not a {kind.__name__}")
    return data


def _default_builder(cfg: Config, num_classes: int, num_domains: int) -> nn.Module:
    """``method_from_config`` for inference: the episodic method gets untrained placeholder
    extractors (never used by ``embed``; their weights are not in the file), DANN a dummy run
    length (its schedule matters only in training)."""
    from dgreid.methods import method_from_config

    return method_from_config(
        cfg,
        num_classes,
        num_domains,
        extractors=None,
        total_steps=1,
        placeholder_extractors=True,
    )


def without_initial_weights(cfg: Config) -> Config:
    """``cfg`` with ``model.pretrained=none``: the network to be filled from a file of weights."""
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained="none"))


def load_state_checked(module: nn.Module, state: dict[str, Any], source: str) -> None:
    """Load ``state`` into ``module``; extractor keys may be absent, anything else must fit.

    Raises :class:`CheckpointError` listing missing keys, unexpected keys and shape mismatches.
    """
    load_state_dict_checked(module, state, source, optional_prefix=EXTRACTOR_PREFIX)


def load_model_file(
    path: str | Path, device: str | torch.device = "cpu", build: Builder | None = None
) -> LoadedModel:
    """Rebuild the method of a model file and load its weights (eval mode, on ``device``).

    ``build`` rebuilds the network from ``(cfg, num_classes, num_domains)``; by default it is
    ``method_from_config(cfg, num_classes, num_domains, extractors=None)``. The network is
    rebuilt without initial weights (``model.pretrained`` as ``none``): every weight is in the
    file, so loading needs no ImageNet or other weight file. The returned config is the stored
    one, unchanged.
    """
    data = read_model_file(path)
    meta = ModelMeta.from_dict(data["meta"], str(path))
    try:
        cfg = config_from_dict(data["config"], source=f"{path} (stored config)")
    except ConfigError as e:
        raise CheckpointError(f"{path}: stored config does not fit this dgreid: {e}") from e
    try:
        module = (build or _default_builder)(
            without_initial_weights(cfg), meta.num_classes, meta.num_domains
        )
    except CheckpointError:
        raise
    except (KeyError, ValueError, ImportError, DgreidError) as e:
        raise CheckpointError(
            f"{path}: cannot rebuild method {meta.method!r} / backbone {meta.backbone!r}: {e}"
        ) from e
    load_state_checked(module, data["state_dict"], str(path))
    module.to(device).eval()
    return LoadedModel(method=module, meta=meta, config=cfg)
