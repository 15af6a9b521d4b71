"""The synthetic benchmark: determinism, protocol counts, layouts, manifest, reuse, CLI."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dgreid.cli.main import main
from dgreid.data.synth import DOMAINS, VERSION, ensure_benchmark, get_domain, render_benchmark
from dgreid.data.synth.layouts import plan_domain
from dgreid.errors import DgreidError

SIZE = (32, 16)
SCALE = 0.05

#: Every domain, targets shrunk (their protocol sizes are checked on the plans instead).
SMALL = [
    get_domain("synth-market"),
    get_domain("synth-duke"),
    get_domain("synth-cuhk02"),
    get_domain("synth-cuhk03"),
    replace(get_domain("synth-grid"), n_ids=6, distractors=4),
    replace(get_domain("synth-ilids"), n_ids=5, n_images=17),
    replace(get_domain("synth-prid"), n_ids=6, n_ids_b=6, shared=6),  # loader: 1..200 shared
    replace(get_domain("synth-viper"), n_ids=6),
]

#: File name of each domain, relative to its synth-<name>/ folder (docs/layouts.md).
PATTERNS = {
    "synth-market": r"(bounding_box_(train|test)|query)/\d{4}_c[1-6]s\d_\d{6}_\d{2}\.jpg",
    "synth-duke": r"(bounding_box_(train|test)|query)/\d{4}_c[1-8]_f\d{7}\.jpg",
    "synth-cuhk02": r"P[1-5]/cam[12]/\d{4}_\d{2}\.png",
    "synth-cuhk03": r"images_labeled/[1-3]_\d{3}_[12]_\d{2}\.png",
    "synth-grid": r"(probe|gallery)/\d{4}_\d_\d{5}\.jpeg",
    "synth-ilids": r"Persons/\d{7}\.jpg",
    "synth-prid": r"single_shot/cam_[ab]/person_\d{4}\.png",
    "synth-viper": r"cam_[ab]/\d{3}_\d{3}\.bmp",
}


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth")
    manifest = render_benchmark(out, seed=3, scale=SCALE, size=SIZE, domains=SMALL, progress=False)
    return out, manifest


def test_same_seed_same_bytes_any_worker_count(
    small_tree: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = small_tree
    again = tmp_path / "again"
    render_benchmark(again, 3, SCALE, SIZE, SMALL, progress=False, workers=1)
    assert tree_hash(again) == tree_hash(out)
    other = tmp_path / "other"
    render_benchmark(other, 4, SCALE, SIZE, SMALL[4:5], progress=False)
    assert tree_hash(other / "synth-grid") != tree_hash(out / "synth-grid")


def test_file_names_follow_the_layouts(small_tree: tuple[Path, dict]) -> None:
    out, manifest = small_tree
    for name, pattern in PATTERNS.items():
        files = [p.relative_to(out / name).as_posix() for p in (out / name).rglob("*.*")]
        assert files and all(re.fullmatch(pattern, f) for f in files), name
        assert len(files) == manifest["domains"][name]["images"]
    img = np.asarray(__import__("PIL.Image").Image.open(next((out / "synth-viper").rglob("*.bmp"))))
    assert img.shape == (*SIZE, 3) and img.std() > 5  # a picture, not a flat fill


def test_manifest_contents(small_tree: tuple[Path, dict]) -> None:
    out, manifest = small_tree
    assert json.loads((out / "synth.json").read_text()) == manifest
    assert (manifest["version"], manifest["seed"], manifest["scale"]) == (VERSION, 3, SCALE)
    assert manifest["size"] == list(SIZE) and list(manifest["domains"]) == [d.name for d in SMALL]
    market = manifest["domains"]["synth-market"]
    assert market["ids"] == round(340 * SCALE) and market["cameras"] == 6
    assert len(market["camera_styles"]) == 6 and "gain" in market["camera_styles"][0]
    assert manifest["domains"]["synth-grid"]["distractors"] == 4
    assert not list(out.glob(".*partial"))


def test_target_plans_have_protocol_counts() -> None:
    plans = {d.name: plan_domain(d, 0, 1.0) for d in DOMAINS if d.role == "target"}
    grid = plans["synth-grid"].shots
    probe = [s for s in grid if s.path.startswith("probe/")]
    gallery = [s for s in grid if s.path.startswith("gallery/")]
    assert len(probe) == 250 and len(gallery) == 250 + 775
    assert sum(s.path.startswith("gallery/0000_") for s in gallery) == 775
    ilids = plans["synth-ilids"].shots
    assert len(ilids) == 476 and len({s.key for s in ilids}) == 119
    prid = plans["synth-prid"].shots
    cam_a = [s.key for s in prid if "/cam_a/" in s.path]
    cam_b = [s.key for s in prid if "/cam_b/" in s.path]
    assert (len(cam_a), len(cam_b)) == (385, 749)
    assert cam_a[:200] == cam_b[:200] and not set(cam_a[200:]) & set(cam_b[200:])
    viper = plans["synth-viper"].shots
    assert len(viper) == 2 * 632 and len({s.key for s in viper}) == 632


def test_source_sizes_and_market_split() -> None:
    plans = {d.name: plan_domain(d, 0, 1.0) for d in DOMAINS if d.role == "source"}
    total = sum(len(p.shots) for p in plans.values())
    assert 7000 <= total <= 9000
    for plan in plans.values():
        assert 300 <= plan.counts["ids"] <= 400
    shots = plans["synth-market"].shots
    train = {s.pid for s in shots if s.path.startswith("bounding_box_train")}
    query = [s for s in shots if s.path.startswith("query")]
    gallery = [s for s in shots if s.path.startswith("bounding_box_test")]
    assert train and not train & {s.pid for s in query}
    for q in query:  # every query has a true match in another camera
        assert any(g.pid == q.pid and g.cam != q.cam for g in gallery)


def test_identities_differ() -> None:
    from dgreid.data.synth.attributes import sample_identity
    from dgreid.data.synth.domains import PALETTES

    ids = [
        sample_identity(np.random.default_rng([0, 1, 0, k]), PALETTES["summer"]) for k in range(50)
    ]
    colours = {tuple(np.round(i.colours[3:6].ravel(), 2)) for i in ids}
    assert len(colours) == 50


def test_loaders_read_every_synthetic_domain(small_tree: tuple[Path, dict]) -> None:
    from dgreid.data.datasets import build_dataset

    out, manifest = small_tree
    for name, info in manifest["domains"].items():
        ds = build_dataset(name, out)
        assert ds.num_images == info["images"] and ds.num_pids == info["ids"], name
        assert ds.num_cams == info["cameras"], name


def test_ensure_benchmark_reuses_a_matching_tree(tmp_path: Path) -> None:
    doms = ["synth-cuhk02"]
    first = ensure_benchmark(tmp_path, 1, SCALE, SIZE, doms, progress=False)
    probe = next((tmp_path / "synth-cuhk02").rglob("*.png"))
    stamp = probe.stat().st_mtime_ns
    assert ensure_benchmark(tmp_path, 1, SCALE, SIZE, doms, progress=False) == first
    assert probe.stat().st_mtime_ns == stamp  # not rewritten
    probe.unlink()  # an incomplete tree is rendered again
    ensure_benchmark(tmp_path, 1, SCALE, SIZE, doms, progress=False)
    assert probe.exists()
    changed = ensure_benchmark(tmp_path, 2, SCALE, SIZE, doms, progress=False)
    assert changed["seed"] == 2


def test_cli_renders_and_previews(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s"
    argv = ["synth", "--out", str(out), "--scale", "0.02", "--size", "32x16", "--quiet"]
    argv += ["--domains", "synth-market", "--preview", str(tmp_path / "p.png")]
    assert main(argv) == 0
    assert json.loads((out / "synth.json").read_text())["domains"]["synth-market"]["ids"] == 7
    assert (tmp_path / "p.png").stat().st_size > 1000
    assert "images/s" in capsys.readouterr().out
    assert main(["synth", "--out", str(out), "--size", "big"]) == 1
    with pytest.raises(DgreidError, match="unknown synthetic domain"):
        get_domain("synth-nope")
