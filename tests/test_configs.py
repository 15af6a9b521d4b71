"""Every YAML under configs/ loads, and every synthetic method config trains end to end.

The two-iteration smoke run of each synthetic method config (issue 6's "every method trains for
two iterations on a tiny synthetic set"; issue 8's "a two-iteration run of every method") goes
through ``run_training`` exactly as ``dgreid train CONFIG`` does, on the tiny benchmark of
conftest.py; the remaining end-to-end checks of training live in test_e2e_train.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import dgreid
from conftest import CONFIGS, tiny_config
from dgreid.config import Config, ConfigError, load_config
from dgreid.config.loader import config_to_dict
from dgreid.data.datasets import DATASETS
from dgreid.engine.metrics_log import read_metrics
from dgreid.experiments.spec import load_spec
from dgreid.experiments.train_run import run_training
from dgreid.methods import METHODS
from dgreid.models import BACKBONES
from dgreid.models import imagenet as im

ALL_YAML = sorted(CONFIGS.rglob("*.yaml"))
SPECS = [p for p in ALL_YAML if p.name == "compare.yaml"]
#: configs/protocols/*.yaml: comparison specs too (tests/test_protocols.py)
PROTOCOL_SPECS = [p for p in ALL_YAML if p.parent.name == "protocols"]
RUN_CONFIGS = [p for p in ALL_YAML if p not in SPECS and p not in PROTOCOL_SPECS]
#: configs/synthetic/*.yaml that define a method (base.yaml is what they inherit).
SYNTHETIC_METHODS = [p for p in RUN_CONFIGS if p.parent.name == "synthetic" and p.stem != "base"]
#: configs/cpu-real/*.yaml that define a method (the real mini-DG recipe).
REAL_METHODS = [p for p in RUN_CONFIGS if p.parent.name == "cpu-real" and p.stem != "base"]


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


def _check_names(cfg: Config) -> None:
    """The names a config gives resolve in their registries."""
    assert cfg.method.name in METHODS
    assert cfg.model.backbone in BACKBONES and cfg.model.extractor in BACKBONES
    for name in [*cfg.data.sources, *cfg.data.targets]:
        assert name in DATASETS, name


def test_config_folders_are_complete() -> None:
    """Both settings hold every method of the paper's tables plus a comparison spec."""
    for setting in ("paper", "synthetic", "cpu-real"):
        names = {p.stem for p in (CONFIGS / setting).glob("*.yaml")}
        expected = {"baseline", "dann", "dimn", "dualnorm", "episodic", "compare"}
        assert expected | {"episodic_no_tri", "episodic_no_consis"} <= names, setting


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=_ids(RUN_CONFIGS))
def test_run_config_loads(path: Path) -> None:
    cfg = load_config(path)
    _check_names(cfg)
    if path.stem != "base":
        assert cfg.output_dir != Config().output_dir, "each method config names its run folder"
    if path.stem.startswith("episodic_no_"):
        term = path.stem.removeprefix("episodic_no_")
        assert getattr(cfg.method.own, f"lambda_{term}") == 0.0
        assert cfg.method.name == "episodic"


@pytest.mark.parametrize("path", SPECS, ids=_ids(SPECS))
def test_compare_rows_name_the_method_configs(path: Path) -> None:
    """A table row trains what ``dgreid train <setting>/<method>.yaml`` trains, key for key
    (output folder aside): each shipped row names its method's config file, so a method's best
    recipe is written once, and the table and ``dgreid train`` cannot drift apart."""
    spec = load_spec(path)
    checked = 0
    for method, row in spec.methods.items():
        own = path.parent / f"{method}.yaml"
        assert own.is_file(), f"{path}: {method} has no config of its own"
        assert (row.config, row.overrides) == (own.resolve(), []), f"{path}: row {method}"
        run = config_to_dict(spec.run_config(method, 0))
        alone = config_to_dict(load_config(own, ["train.seed=0"]))
        assert run.pop("output_dir") != alone.pop("output_dir")
        assert run == alone, f"{path.parent.name}: the {method} row differs from {own.name}"
        checked += 1
    assert checked >= 8, path


def _spec_world(tmp_path: Path, methods: str, config: str = "config: base.yaml\n") -> Path:
    (tmp_path / "base.yaml").write_text("data: {sources: [synth-market], targets: [synth-grid]}\n")
    (tmp_path / "dann.yaml").write_text("base: base.yaml\nmethod: {name: dann}\ntrain: {lr: 0.2}\n")
    (tmp_path / "other.yaml").write_text(
        "method: {name: baseline}\ndata: {sources: [synth-duke], targets: [synth-grid]}\n"
    )
    spec = tmp_path / "compare.yaml"
    spec.write_text(f"{config}output_dir: {tmp_path / 'out'}\nmethods:\n{methods}")
    return spec


def test_a_spec_row_is_a_config_file_overrides_or_both(tmp_path: Path) -> None:
    spec = load_spec(
        _spec_world(
            tmp_path,
            "  file: dann.yaml\n"
            "  both: {config: dann.yaml, overrides: [train.lr=0.5]}\n"
            "  shared: [method.name=baseline, train.lr=0.3]\n",
        )
    )
    runs = {m: spec.run_config(m, 1) for m in spec.methods}
    assert {m: (c.method.name, c.train.lr, c.train.seed) for m, c in runs.items()} == {
        "file": ("dann", 0.2, 1),
        "both": ("dann", 0.5, 1),
        "shared": ("baseline", 0.3, 1),
    }
    assert Path(runs["both"].output_dir) == tmp_path / "out" / "both-seed1"
    # rows that all name their file need no shared config
    alone = load_spec(_spec_world(tmp_path, "  file: dann.yaml\n", config=""))
    assert alone.config is None and alone.run_config("file", 0).train.lr == 0.2


@pytest.mark.parametrize(
    "rows, message",
    [
        ("  a: [method.name=baseline]\n", "missing key config (the shared run config of methods a"),
        ("  a: nothing.yaml\n", "methods.a.config in"),
        ("  a: {confg: dann.yaml}\n", "expected a config file, a list of key=value overrides"),
        ("  a: {config: dann.yaml, overrides: train.lr=1}\n", "methods.a.overrides in"),
        ("  a: 7\n", "methods.a in"),
        ("  a: dann.yaml\n  b: other.yaml\n", "data.sources is ['synth-duke'], but methods.a has"),
    ],
)  # fmt: skip
def test_bad_spec_rows_name_the_row(tmp_path: Path, rows: str, message: str) -> None:
    """Without a shared config (the only case where a list row fails for want of one)."""
    with pytest.raises(ConfigError) as err:
        load_spec(_spec_world(tmp_path, rows, config=""))
    assert message in str(err.value)
    assert "compare.yaml" in str(err.value)


@pytest.mark.parametrize("path", SPECS, ids=_ids(SPECS))
def test_compare_spec_loads(path: Path) -> None:
    spec = load_spec(path)
    assert {"baseline", "episodic"} <= set(spec.methods)
    for method in spec.methods:
        for extra in ([], spec.quick):
            cfg = spec.run_config(method, spec.seeds[0], extra)
            _check_names(cfg)
            assert Path(cfg.output_dir).name == f"{method}-seed{spec.seeds[0]}"


@pytest.mark.parametrize("path", SYNTHETIC_METHODS, ids=_ids(SYNTHETIC_METHODS))
def test_synthetic_config_trains_two_iterations(
    path: Path, tiny_benchmark: Path, tmp_path: Path
) -> None:
    """Train, save, evaluate: the run folder holds every output and the model embeds images."""
    out = tmp_path / "run"
    cfg = tiny_config(path, tiny_benchmark, out)
    result = run_training(cfg)

    for name in ("model.pt", "results.json", "splits.json", "metrics.jsonl", "config.yaml"):
        assert (out / name).is_file(), name
    rows = [r for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in rows)
    if cfg.method.name == "episodic":  # the ablation weights reach the loss
        m = cfg.method.own
        for r in rows:
            total = r["cls"] + m.lambda_tri * r["tri"] + m.lambda_consis * r["consis"]
            assert r["loss"] == pytest.approx(total, rel=1e-4)
        assert len(list((out / "stage1").glob("synth-*/extractor.pt"))) == len(cfg.data.sources)
        assert len(list((out / "stage1").glob("stage0-*/extractor.pt"))) == 1  # shared start

    results = json.loads((out / "results.json").read_text())
    assert list(results["targets"]) == list(cfg.data.targets)
    assert all(len(t["splits"]) == cfg.eval.num_splits for t in results["targets"].values())
    assert 0.0 <= results["average"]["rank1"] <= 1.0
    assert result.result is not None
    assert result.result.average["rank1"] == pytest.approx(results["average"]["rank1"])
    splits = json.loads((out / "splits.json").read_text())
    assert set(splits["targets"]) == set(cfg.data.targets)

    model = dgreid.load(out, device="cpu")
    assert model.method == cfg.method.name
    images = sorted((tiny_benchmark / "synth-viper").rglob("*.bmp"))[:3]
    feats = model.embed(images)
    assert feats.shape == (3, model.feat_dim) and torch.isfinite(feats).all()


def _dataset_names_outside_data(node: object, path: str = "") -> list[str]:
    """Dataset names found anywhere in a raw YAML tree except under its ``data`` section."""
    if isinstance(node, dict):
        return [
            hit
            for k, v in node.items()
            if not (path == "" and k == "data")
            for hit in _dataset_names_outside_data(v, f"{path}.{k}")
        ]
    if isinstance(node, list):
        return [hit for v in node for hit in _dataset_names_outside_data(v, path)]
    return [f"{path}: {node}"] if isinstance(node, str) and node in DATASETS else []


@pytest.mark.parametrize("path", [*REAL_METHODS, CONFIGS / "cpu-real" / "base.yaml"])
def test_cpu_real_configs_name_datasets_only_in_data(path: Path) -> None:
    """The recipe runs on other data by overriding data.* alone."""
    import yaml

    assert _dataset_names_outside_data(yaml.safe_load(path.read_text())) == []
    cfg = load_config(path, ["data.root=/elsewhere", "data.sources=[market1501,dukemtmc,cuhk02]"])
    assert cfg.data.sources == ["market1501", "dukemtmc", "cuhk02"]
    assert cfg.model.pretrained == "imagenet"
    # fine-tuning: the pretrained layers learn slower than the new heads under SGD's rate;
    # Adam's recipe (DualNorm's best) is one small rate everywhere
    if cfg.train.optimizer == "adam":
        assert cfg.train.lr < 0.001
    else:
        assert cfg.train.backbone_lr_mult < 1.0


@pytest.fixture(scope="module")
def tiny_real_root(tiny_benchmark: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real mini-DG's layout in miniature: a Market-style ``custom/`` network, a CUHK01
    ``campus/`` folder, and two synthetic sources (links into the tiny benchmark)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("tiny-real")
    for pid in range(8):
        colour = (30 * pid, 255 - 30 * pid, 90)
        for i in range(4):
            path = (
                root / "custom" / "bounding_box_train" / f"{pid:04d}_c{1 + i % 2}s1_{i:06d}_00.jpg"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 32), colour).save(path)
            png = root / "cuhk01" / "campus" / f"{pid + 1:04d}{i + 1:03d}.png"
            png.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 32), colour[::-1]).save(png)
    for name in ("synth-market", "synth-duke"):
        (root / name).symlink_to(tiny_benchmark / name)
    return root


@pytest.mark.parametrize("path", REAL_METHODS, ids=_ids(REAL_METHODS))
def test_cpu_real_config_trains_two_iterations(
    path: Path, tiny_real_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cpu-real method config trains (ImageNet weights when installed) and evaluates."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    pretrained = "imagenet" if im.packaged_file(im.DEEPSORT_MOBILENETV2) else "none"
    out = tmp_path / "run"
    cfg = tiny_config(
        path, tiny_real_root, out, f"model.pretrained={pretrained}", "method.stage1_lr_steps=[]"
    )
    result = run_training(cfg)
    assert result.result is not None
    assert list(result.result.targets) == ["cuhk01"]
    rows = [r for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert [r["step"] for r in rows] == [1, 2] and all(math.isfinite(r["loss"]) for r in rows)


def test_spec_overrides_apply_to_every_row_before_its_own(tmp_path: Path) -> None:
    path = _spec_world(
        tmp_path,
        "  file: dann.yaml\n  both: {config: dann.yaml, overrides: [train.lr=0.5]}\n",
    )
    path.write_text(
        path.read_text() + "overrides:\n  - train.lr=0.7\n  - data.targets=[synth-viper]\n"
    )
    spec = load_spec(path)
    runs = {m: spec.run_config(m, 0) for m in spec.methods}
    assert {m: (c.train.lr, c.data.targets) for m, c in runs.items()} == {
        "file": (0.7, ["synth-viper"]),
        "both": (0.5, ["synth-viper"]),
    }
    path.write_text(path.read_text().replace("- train.lr=", "- train.lrr="))
    with pytest.raises(ConfigError, match="train.lrr"):
        load_spec(path)
