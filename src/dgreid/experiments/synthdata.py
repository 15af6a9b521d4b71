"""Render the synthetic benchmark on first use, so a synthetic config runs from a clean clone."""

from __future__ import annotations

import logging
from pathlib import Path

from dgreid.config import Config
from dgreid.data.synth import DOMAINS, ensure_benchmark, parse_shifts, read_manifest
from dgreid.data.synth.shifts import check_version
from dgreid.data.synth.writer import describe_generator, generator_of
from dgreid.errors import DatasetError

log = logging.getLogger(__name__)

#: The benchmark a synthetic config gets when its data root is empty (the released default).
DEFAULT_SEED = 0


def ensure_synthetic_data(cfg: Config) -> None:
    """If ``cfg``'s sources and targets are all synthetic domains and its data root lacks them,
    render the default benchmark there with the generator ``data.synth_version`` and
    ``data.synth_shifts`` ask for (said once in the log). A root rendered with another version
    or other shifts is an error that says how to render the one asked for: it may hold another
    experiment's data, so it is never rendered over. Real datasets are never fetched."""
    names = [*cfg.data.sources, *cfg.data.targets]
    synth = {d.name for d in DOMAINS}
    if not names or not all(n in synth for n in names):
        return
    version = check_version(cfg.data.synth_version)
    shifts = parse_shifts(cfg.data.synth_shifts, version)
    root = Path(cfg.data.root)
    if (root / "synth.json").exists():
        _check_generator(root, version, shifts)
        return
    if root.exists() and any(root.iterdir()):
        raise DatasetError(
            f"{root} holds files but no synth.json; render the synthetic benchmark into an "
            f"empty folder (dgreid synth --out DIR) and set data.root to it"
        )
    log.warning(
        "no synthetic benchmark under %s: rendering the default one (seed %d, %s)",
        root,
        DEFAULT_SEED,
        describe_generator(version, shifts),
    )
    ensure_benchmark(root, seed=DEFAULT_SEED, version=version, shifts=shifts)


def _check_generator(root: Path, version: int, shifts: tuple[str, ...]) -> None:
    """Refuse a root whose manifest was rendered by another generator than the one asked for."""
    manifest = read_manifest(root)
    found = generator_of(manifest) if manifest is not None else (0, ())
    if found == (version, shifts):
        return
    flags = f"--version {version}"
    if version > 1:
        flags += f" --shifts {','.join(shifts) or 'none'}"
    raise DatasetError(
        f"{root} holds the synthetic benchmark {describe_generator(*found)}, but the config "
        f"asks for {describe_generator(version, shifts)} (data.synth_version, "
        f"data.synth_shifts). Render that into a folder of its own (dgreid synth --out DIR "
        f"{flags}) and set data.root=DIR, or set data.synth_version / data.synth_shifts to "
        f"what {root} holds."
    )
