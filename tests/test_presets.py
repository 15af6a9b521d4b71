"""The demo runs the shipped configs/synthetic/ files, not a copy: its settings are the files'.

``dgreid demo`` reads configs/synthetic/compare.yaml (and so base.yaml) through
:func:`dgreid.experiments.presets.shipped_configs`; in a source checkout (and an editable
install) that is the repository's configs/synthetic/, the folder the docs point to.
"""

from __future__ import annotations

from pathlib import Path

from conftest import CONFIGS
from dgreid.config import config_to_dict, load_config
from dgreid.config.loader import parse_overrides
from dgreid.experiments import demo
from dgreid.experiments.presets import shipped_configs


def flat(cfg: object) -> dict:
    out = {}
    for section, values in config_to_dict(cfg).items():
        if isinstance(values, dict):
            out.update({f"{section}.{k}": v for k, v in values.items()})
        else:
            out[section] = values
    return out


def test_checkout_reads_the_documented_folder() -> None:
    assert shipped_configs("synthetic").resolve() == (CONFIGS / "synthetic").resolve()


def test_demo_settings_equal_the_config_files(tmp_path: Path) -> None:
    """Each demo run's config is configs/synthetic/<method>.yaml with the demo's data folder
    (the run folder aside); the quick demo changes only the budget."""
    s = demo.DemoSettings(tmp_path / "demo")
    spec = demo.demo_spec(s)
    assert list(spec.methods) == list(demo.METHODS)
    for name in demo.METHODS:
        run = flat(spec.run_config(name, 0, demo.demo_overrides(s)))
        path = CONFIGS / "synthetic" / f"{name}.yaml"
        expected = flat(load_config(path, [f"data.root={s.data_dir}", "train.seed=0"]))
        run.pop("output_dir"), expected.pop("output_dir")
        assert run == expected, name

    quick = demo.DemoSettings(tmp_path / "demo", quick=True)
    budget = {key for key, _ in parse_overrides(demo.QUICK)}
    for name in demo.METHODS:
        full = flat(spec.run_config(name, 0, demo.demo_overrides(quick)))
        small = flat(spec.run_config(name, 0, [*demo.QUICK, *demo.demo_overrides(quick)]))
        assert {k for k in full if full[k] != small[k]} <= budget, name
