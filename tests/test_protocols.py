"""The protocols of configs/protocols/: each spec is the paper's method recipes moved to its data
and evaluation by its ``overrides`` alone, loads with every method, and runs the whole pipeline
(``dgreid compare``) on tiny trees in the datasets' real layouts; a target with its own
query/gallery is evaluated once on exactly those, never on random splits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from conftest import CONFIGS, TINY_OVERRIDES
from dgreid.config import Config, ConfigError, load_config
from dgreid.config.loader import config_to_dict
from dgreid.data.datasets import DATASETS, build_dataset
from dgreid.errors import DatasetError, DgreidError
from dgreid.evaluation.splits import (
    CameraProtocol,
    SplitsFileError,
    make_splits,
    own_split,
    save_splits,
)
from dgreid.experiments.compare import run_compare
from dgreid.experiments.evaluate import draw_splits, rank_targets
from dgreid.experiments.spec import CompareSpec, load_spec
from dgreid.experiments.train_run import run_training
from dgreid.methods import METHODS
from real_trees import write_real_root

PROTOCOLS = CONFIGS / "protocols"
SPECS = sorted(PROTOCOLS.glob("*.yaml"))
SMALL = ["grid", "ilids", "prid", "viper"]
CLASSIC = ["market1501", "dukemtmc", "cuhk02", "cuhk03"]
LOO = ["market1501", "dukemtmc", "cuhk03", "msmt17"]

#: spec -> (sources, targets, evaluated on the target's own query/gallery)
EXPECTED: dict[str, tuple[list[str], list[str], bool]] = {
    "classic": (CLASSIC, SMALL, False),
    "protocol1": ([*CLASSIC, "cuhksysu"], SMALL, False),
    "m_ms_cs_to_c3": (["market1501", "msmt17", "cuhksysu"], ["cuhk03"], True),
    **{
        f"loo_{short}": ([d for d in LOO if d != held], [held], True)
        for short, held in zip(("market", "duke", "cuhk03", "msmt17"), LOO)
    },
}
#: the keys a protocol may change in a method's paper recipe (besides seed and run folder)
PROTOCOL_KEYS = {"data.sources", "data.targets", "eval.own_query_gallery", "eval.num_splits"}


def _flat(data: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in data.items():
        if isinstance(v, dict) and k != "method":
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_every_protocol_has_a_spec() -> None:
    assert sorted(p.stem for p in SPECS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_spec_loads_and_checks_with_every_method(path: Path) -> None:
    """Every row is configs/paper/<method>.yaml; with the spec's overrides (and with --quick's)
    it resolves and passes every check, and differs from the paper recipe only in the
    protocol's data and evaluation keys."""
    spec = load_spec(path)
    sources, targets, own = EXPECTED[path.stem]
    assert {"baseline", "dann", "dualnorm", "dimn", "episodic", "episodic_plus"} <= set(
        spec.methods
    )
    for method, row in spec.methods.items():
        paper = CONFIGS / "paper" / f"{method}.yaml"
        assert (row.config, row.overrides) == (paper.resolve(), []), method
        for extra in ([], spec.quick):
            cfg = spec.run_config(method, 0, extra)
            assert (cfg.data.sources, cfg.data.targets) == (sources, targets)
            assert cfg.eval.own_query_gallery is own
            assert cfg.method.name in METHODS
            assert all(d in DATASETS for d in [*sources, *targets])
        run = _flat(config_to_dict(spec.run_config(method, 0)))
        recipe = _flat(config_to_dict(load_config(paper, ["train.seed=0"])))
        changed = {k for k in run if run[k] != recipe[k]} - {"output_dir"}
        assert changed <= PROTOCOL_KEYS, (method, changed)
        assert run["method"] == recipe["method"]


def _tiny_spec(spec: CompareSpec, methods: list[str], out: Path) -> CompareSpec:
    """``spec`` with ``methods`` alone, each on the small network of its family, run in ``out``."""
    small = {"resnet50": "convnet_small", "mobilenetv2_dualnorm": "convnet_dualnorm"}
    rows = {}
    for m in methods:
        backbone = small[spec.run_config(m, 0).model.backbone]
        row = spec.methods[m]
        rows[m] = dataclasses.replace(row, overrides=[*row.overrides, f"model.backbone={backbone}"])
    return dataclasses.replace(spec, methods=rows, output_dir=str(out))


TINY_PAPER = [
    *TINY_OVERRIDES,
    "data.workers=0",
    "model.extractor=convnet_small",
    "model.pretrained=none",
    "model.embed_dim=32",
    "method.stage1_lr_steps=[]",
    "eval.num_test_ids=3",
]

#: the methods each spec trains end to end (every spec, and every method somewhere)
RUN = {
    "classic": ["baseline", "episodic"],
    "loo_market": ["baseline", "dualnorm"],
    "loo_duke": ["dann"],
    "loo_cuhk03": ["dimn"],
    "loo_msmt17": ["episodic_plus"],
    "protocol1": ["baseline"],
    "m_ms_cs_to_c3": ["episodic"],
}


def test_the_runs_cover_every_spec_and_method() -> None:
    assert sorted(RUN) == sorted(EXPECTED)
    every = {m for p in SPECS for m in load_spec(p).methods} - {
        "episodic_no_tri",
        "episodic_no_consis",
    }
    assert {m for ms in RUN.values() for m in ms} == every


@pytest.fixture(scope="module")
def real_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[int, int]]]:
    root = tmp_path_factory.mktemp("real-trees")
    return root, write_real_root(root)


@pytest.mark.parametrize("name", sorted(RUN))
def test_spec_runs_end_to_end(
    name: str, real_root: tuple[Path, dict[str, tuple[int, int]]], tmp_path: Path
) -> None:
    """``dgreid compare SPEC --quick`` on the tiny trees (two iterations): the results name the
    protocol's targets; a target with its own query/gallery was evaluated once on exactly its
    query and gallery images (though eval.num_splits asks for 2), the others on 2 splits."""
    root, own_sizes = real_root
    sources, targets, own = EXPECTED[name]
    spec = _tiny_spec(load_spec(PROTOCOLS / f"{name}.yaml"), RUN[name], tmp_path / "out")
    result = run_compare(spec, quick=True, overrides=[*TINY_PAPER, f"data.root={root}"])

    assert result.targets == targets and list(result.methods) == RUN[name]
    tables = json.loads((tmp_path / "out" / "tables.json").read_text())
    assert tables["targets"] == targets
    splits = json.loads((tmp_path / "out" / "splits.json").read_text())
    assert list(splits["targets"]) == targets
    for method in RUN[name]:
        run = tmp_path / "out" / f"{method}-seed0"
        saved = load_config(run / "config.yaml")
        assert (saved.data.sources, saved.data.targets) == (sources, targets)
        results = json.loads((run / "results.json").read_text())
        assert list(results["targets"]) == targets
        for t in targets:
            held = results["targets"][t]
            if own:
                assert held["num_splits"] == 1
                sizes = (held["splits"][0]["num_query"], held["splits"][0]["num_gallery"])
                assert sizes == own_sizes[t]
            else:
                assert held["num_splits"] == 2
                assert held["splits"][0]["num_query"] == 3  # eval.num_test_ids
    markdown = (tmp_path / "out" / "tables.md").read_text()
    rows = [
        line
        for line in markdown.splitlines()
        if line.startswith("| ") and not line.startswith("| method") and "(paper)" not in line
    ]
    cells = [c for line in rows for c in line.split("|")[2:-1]]
    assert cells
    # one seed evaluated once: its mean alone, never a made-up "± 0.0"; else mean ± std
    assert all(("±" in c) is not own for c in cells), markdown
    # the paper's figures only beside its own protocol (not beside five sources)
    assert ("(paper)" in markdown) is (name == "classic")


# ---- the target's own query/gallery, never a random fallback --------------------------------


def _own_cfg(root: Path, targets: str, *extra: str) -> Config:
    return load_config(
        CONFIGS / "paper" / "baseline.yaml",
        [
            f"data.root={root}",
            "data.sources=[cuhk02,cuhksysu,msmt17]",
            f"data.targets={targets}",
            "eval.own_query_gallery=true",
            *extra,
        ],
    )


def test_own_query_gallery_refuses_a_protocol_target_when_checked() -> None:
    with pytest.raises(ConfigError, match="eval.own_query_gallery=true: target.s. viper"):
        _own_cfg(Path("data"), "[cuhk03,viper]")


def test_cuhk03_without_its_split_file_is_an_error_not_random_splits(
    real_root: tuple[Path, dict[str, tuple[int, int]]], tmp_path: Path
) -> None:
    """Without the 767/700 file CUHK03 has no query/gallery: auto falls back to camera splits
    (the behaviour of any such network); eval.own_query_gallery refuses it, naming the file."""
    root, _ = real_root
    bare = tmp_path / "bare"
    (bare / "cuhk03").mkdir(parents=True)
    (bare / "cuhk03" / "images_labeled").symlink_to(root / "cuhk03" / "images_labeled")
    ds = build_dataset("cuhk03", bare)
    assert not ds.query and not ds.gallery
    cfg = _own_cfg(bare, "[cuhk03]")
    with pytest.raises(DatasetError, match="cuhk03_new_protocol_config_labeled.mat"):
        draw_splits(cfg, {"cuhk03": ds})
    with pytest.raises(DatasetError, match="no query/gallery of its own"):
        run_training(_own_cfg(bare, "[cuhk03]", *TINY_PAPER, f"output_dir={tmp_path / 'run'}"))
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before training
    auto = load_config(CONFIGS / "paper" / "baseline.yaml", ["eval.num_test_ids=2"])
    assert len(draw_splits(auto, {"cuhk03": ds})["cuhk03"]) == 10  # the camera fallback
    with pytest.raises(DatasetError, match="protocol .viper. draws random"):
        own_split(build_dataset("viper", root))


def test_saved_random_splits_are_refused_for_an_own_query_gallery_target(
    real_root: tuple[Path, dict[str, tuple[int, int]]], tmp_path: Path
) -> None:
    root, sizes = real_root
    ds = build_dataset("market1501", root)
    path = tmp_path / "splits.json"
    by_cameras = dataclasses.replace(ds, query=[], gallery=[])
    drawn = make_splits(by_cameras, 2, 0, 2, cameras=CameraProtocol((0,), (1,)))
    save_splits(path, {"market1501": drawn}, {"market1501": ds.root})
    cfg = _own_cfg(root, "[market1501]", f"eval.splits_file={path}")
    with pytest.raises(SplitsFileError, match="evaluates it once on its own query/gallery"):
        rank_targets(lambda x: x.flatten(1), None, cfg, torch.device("cpu"))
    assert own_split(ds)[0].query == ds.query and len(ds.gallery) == sizes["market1501"][1]


def test_a_target_evaluated_once_joins_every_draw_of_the_average(tmp_path: Path) -> None:
    """Market-1501 on its own query/gallery (one evaluation) beside GRID on two splits: each
    target keeps its own count (no spread for Market), and the average over targets is taken
    per draw with Market's one evaluation in both."""
    from dgreid.experiments.compare import summarise

    def split(r1: float) -> dict[str, object]:
        return {"rank1": r1, "mAP": r1 / 2, "cmc": [r1] * 3}

    run = tmp_path / "run"
    run.mkdir()
    results = {"targets": {"market1501": {"splits": [split(0.6)]}, "grid": {"splits": []}}}
    results["targets"]["grid"]["splits"] = [split(0.2), split(0.4)]
    (run / "results.json").write_text(json.dumps(results))
    s = summarise("baseline", [run], ["market1501", "grid"])
    assert s.rank1["market1501"] == (pytest.approx(0.6), None)
    assert s.rank1["grid"] == (pytest.approx(0.3), pytest.approx(0.1))
    assert s.avg_rank1 == (pytest.approx(0.45), pytest.approx(0.05))  # draws 0.4 and 0.5
    results["targets"]["grid"]["splits"].append(split(0.1))
    results["targets"]["market1501"]["splits"].append(split(0.1))
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(DgreidError, match="every target has the run's number of splits, or one"):
        summarise("baseline", [run], ["market1501", "grid"])
