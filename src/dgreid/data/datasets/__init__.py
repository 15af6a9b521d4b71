"""Dataset loaders behind one registry.

Contract of :data:`DATASETS`: a name maps to a factory ``factory(root) -> DatasetLoader`` that
only stores ``root``; ``loader.load()`` finds the dataset folder under ``root`` (the candidates
in docs/layouts.md, any case), lists its images without decoding them, and returns a
:class:`~dgreid.structures.ReIDDataset` or raises :class:`~dgreid.errors.DatasetError` saying
what was looked for and what was expected. Nothing is ever written into the data folder.
Every ``synth-*`` name is its real loader reading the ``dgreid synth`` folder instead.
Besides the registered names, the family ``custom:NAME`` (any folder name NAME) is valid: the
``custom`` rules on the folder ``ROOT/NAME``, with ``custom:NAME`` as the dataset's name.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from dgreid.data.datasets.base import (
    DatasetLayoutError,
    DatasetLoader,
    DatasetNotFoundError,
    Layout,
    LoaderFactory,
)
from dgreid.data.datasets.cuhk01 import CUHK01
from dgreid.data.datasets.cuhk02 import CUHK02
from dgreid.data.datasets.cuhk03 import CUHK03, CUHK03Detected
from dgreid.data.datasets.cuhksysu import CUHKSYSU
from dgreid.data.datasets.custom import Custom, NamedCustom, custom_folders
from dgreid.data.datasets.dukemtmc import DukeMTMC
from dgreid.data.datasets.grid import GRID
from dgreid.data.datasets.ilids import ILIDS
from dgreid.data.datasets.market1501 import Market1501
from dgreid.data.datasets.msmt17 import MSMT17
from dgreid.data.datasets.prid import PRID
from dgreid.data.datasets.viper import VIPeR
from dgreid.errors import UnknownNameError
from dgreid.registry import Registry
from dgreid.structures import ReIDDataset

__all__ = [
    "CUSTOM_PREFIX",
    "DATASETS",
    "SYNTH_TWINS",
    "DatasetLayoutError",
    "DatasetLoader",
    "DatasetNotFoundError",
    "build_dataset",
    "custom_dataset_names",
    "get_loader",
]

#: ``custom:NAME`` reads the folder ``ROOT/NAME`` with the ``custom`` rules.
CUSTOM_PREFIX = "custom:"


class DatasetRegistry(Registry[LoaderFactory]):
    """The dataset registry: registered names plus the family ``custom:NAME``.

    ``get("custom:NAME")`` returns a :class:`NamedCustom` factory for the folder NAME (one folder
    name: no ``/`` or ``\\``, not ``.`` or ``..``); an unknown name's error also mentions the
    family. ``names()`` lists the registered names only.
    """

    def get(self, name: str) -> LoaderFactory:
        if name.startswith(CUSTOM_PREFIX):
            folder = name[len(CUSTOM_PREFIX) :]
            if not folder or folder in (".", "..") or any(c in folder for c in "/\\\0"):
                raise UnknownNameError(
                    f"dataset {name!r}: custom:NAME needs NAME to be one folder name under the "
                    "data root, e.g. custom:site_a for ROOT/site_a"
                )
            return partial(NamedCustom, name=name, folder=folder, others=_other_folders())
        try:
            return super().get(name)
        except UnknownNameError as e:
            raise UnknownNameError(f"{e}, or custom:NAME for the folder ROOT/NAME") from None

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name.startswith(CUSTOM_PREFIX):
            try:
                self.get(name)
            except UnknownNameError:
                return False
            return True
        return super().__contains__(name)


DATASETS = DatasetRegistry("dataset")

_REAL: dict[str, type[DatasetLoader]] = {
    "market1501": Market1501,
    "dukemtmc": DukeMTMC,
    "cuhk02": CUHK02,
    "cuhk03": CUHK03,
    "cuhk03-detected": CUHK03Detected,
    "grid": GRID,
    "ilids": ILIDS,
    "prid": PRID,
    "viper": VIPeR,
    "cuhk01": CUHK01,
    "msmt17": MSMT17,
    "cuhksysu": CUHKSYSU,
    "custom": Custom,
}

#: synth twin -> (real loader name, dataset folder under the synth root), see docs/layouts.md.
SYNTH_TWINS: dict[str, tuple[str, str]] = {
    "synth-market": ("market1501", "synth-market"),
    "synth-duke": ("dukemtmc", "synth-duke"),
    "synth-cuhk02": ("cuhk02", "synth-cuhk02"),
    "synth-cuhk03": ("cuhk03", "synth-cuhk03"),
    "synth-grid": ("grid", "synth-grid"),
    "synth-ilids": ("ilids", "synth-ilids/Persons"),
    "synth-prid": ("prid", "synth-prid/single_shot"),
    "synth-viper": ("viper", "synth-viper"),
}

for _name, _cls in _REAL.items():
    DATASETS.register(_name)(partial(_cls, name=_name))
for _name, (_real, _folder) in SYNTH_TWINS.items():
    _cls = _REAL[_real]
    _layout = Layout(candidates=(_folder,), markers=_cls.layout.markers)
    DATASETS.register(_name)(partial(_cls, name=_name, layout=_layout))


def _other_folders() -> frozenset[str]:
    """Top folder names (lower case) that registered loaders other than ``custom`` read."""
    folders = set()
    for name in DATASETS.names():
        if name != "custom":
            for cand in get_loader(name, ".").instance_layout.candidates:
                folders.add(Path(cand).parts[0].lower())
    return frozenset(folders)


def custom_dataset_names(root: str | Path) -> list[str]:
    """``custom:NAME`` for every subfolder NAME of ``root`` that no other loader reads."""
    return [CUSTOM_PREFIX + f for f in custom_folders(Path(root), _other_folders())]


def get_loader(name: str, root: str | Path) -> DatasetLoader:
    """The loader of ``name`` (registered, or ``custom:NAME``) for data root ``root`` (nothing is
    read yet)."""
    return DATASETS.get(name)(Path(root))


def build_dataset(name: str, root: str | Path) -> ReIDDataset:
    """Load dataset ``name`` from data root ``root``; KeyError lists valid names if unknown."""
    return get_loader(name, root).load()
