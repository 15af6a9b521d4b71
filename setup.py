"""Build hook: ship the documented synthetic configs inside the package.

``configs/synthetic/*.yaml`` is the one copy (the docs and ``dgreid train`` point to it). A built
wheel carries it as ``dgreid/configs/synthetic/``, so ``dgreid demo`` reads the same files after a
regular install; an editable install or a source checkout reads ``configs/synthetic/`` itself
(see ``dgreid.experiments.presets``). Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: The config folders that ship with the package (relative to the repository root).
SHIPPED = ("configs/synthetic",)


class BuildPyWithConfigs(build_py):
    """``build_py`` that also copies :data:`SHIPPED` under ``dgreid/`` in the build."""

    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for folder in SHIPPED:
            dest = Path(self.build_lib) / "dgreid" / folder
            dest.mkdir(parents=True, exist_ok=True)
            for path in sorted((root / folder).glob("*.yaml")):
                shutil.copy2(path, dest / path.name)


setup(cmdclass={"build_py": BuildPyWithConfigs})
