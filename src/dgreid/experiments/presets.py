"""The configs that ship with dgreid: ``configs/synthetic/*.yaml``, one copy.

The repository's ``configs/synthetic/`` is the documented path and the single source. A built
wheel carries the same files as ``dgreid/configs/synthetic/`` (``setup.py`` copies them at build
time); an editable install or a source checkout reads the repository's folder directly. So
``dgreid demo`` and ``dgreid train configs/synthetic/...`` always read the same settings.
"""

from __future__ import annotations

from pathlib import Path

from dgreid.errors import DgreidError

_PACKAGE = Path(__file__).resolve().parent.parent  # .../dgreid
#: Where a regular install keeps the shipped configs, and where a source checkout has them.
PLACES = (_PACKAGE / "configs", _PACKAGE.parent.parent / "configs")


def shipped_configs(name: str = "synthetic") -> Path:
    """The folder of the shipped config set ``name`` (holding ``base.yaml``)."""
    for place in PLACES:
        folder = place / name
        if (folder / "base.yaml").is_file():
            return folder
    looked = ", ".join(str(p / name) for p in PLACES)
    raise DgreidError(
        f"the shipped configs/{name}/ are missing (looked in {looked}); reinstall dgreid"
    )


__all__ = ["shipped_configs"]
