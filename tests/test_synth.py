"""The synthetic benchmark: determinism, protocol counts, layouts, manifest, reuse, CLI, and
the generator versions: version 1 byte-identical, version 2's shift families and switches,
version 3's photometric calibration."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dgreid.cli.main import main
from dgreid.config import Config, DataConfig
from dgreid.data.synth import (
    DOMAINS,
    FAMILIES,
    VERSION,
    DomainSpec,
    ensure_benchmark,
    get_domain,
    parse_shifts,
    render_benchmark,
)
from dgreid.data.synth.domains import PALETTES, camera_styles, domain_levels, spec_levels
from dgreid.data.synth.layouts import plan_domain
from dgreid.data.synth.pixels import encode, render_shots
from dgreid.data.synth.profiles import PROFILES
from dgreid.data.synth.scenes import BACKGROUNDS
from dgreid.data.synth.shifts import CALIBRATION, NEUTRAL, Photometric, without
from dgreid.data.synth.writer import build_manifest, levels_for
from dgreid.errors import DatasetError, DgreidError, UnknownNameError
from dgreid.experiments import synthdata

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
    assert VERSION == 3 and manifest["shifts"] == list(FAMILIES)
    for info in manifest["domains"].values():
        assert set(info["levels"]) == set(FAMILIES)
        assert info["palette"] == info["levels"]["population"]["palette"]
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


# ------------------------------------------------------------------ generator versions

#: sha256 of the raw pixels (before encoding) of version 1 at seed 0, 128x64: per domain, the
#: first two shots of camera 0 then the first of camera 1. Recorded with the original generator
#: (commit 2f9d68a) before version 2 existed; version 1 must render them forever.
V1_PIXELS = {
    "synth-market": "8e77168d349ed40dc9e1e7787a4b0387dd29d43a8ee76ccc72326c1b261031a6",
    "synth-duke": "ac3969c4e74f0225be8a80a256e571373011e8ceb20123c129bb81691584fd51",
    "synth-cuhk02": "81415d8b7dae1fae119797091c0e8b71232959998beff4623dcbd7e6cc122b6b",
    "synth-cuhk03": "35ac2c8f3da2f3335fef1d5a708a930a17b50ac5ed69f451319dd3a5b8d98da0",
    "synth-grid": "604b4dd59011a220cee8065b5972870cbf496a575deecb7f5bd9f0b3b2518e95",
    "synth-ilids": "41f911c0ce2fc01b94da5dbd79182fa51faf65527ffd29c162e90edfcab037ff",
    "synth-prid": "8b7b53b68b727f19fe9865d46184c9e50d2a2c20057aaaded2e2d63dc3fbde16",
    "synth-viper": "2496205a3a51b84bced494b4b559c3db94b05f23eb863e5a8021a037037d318c",
}
#: The same generator's SMALL tree at seed 3: VIPeR's BMP files (no compressor involved) and
#: synth.json, byte for byte.
V1_SMALL_VIPER = "959641a97804e0feed6a56d1a691667fa6d5ee821ffa9ad188b3cc86581d1697"
V1_SMALL_MANIFEST = "3c5a815812f84728b5f22fa2c28261b0ca1c7d24add58270cca80d5ef97d415a"


def first_shots(
    spec: DomainSpec, shifts: tuple[str, ...] | None, size: tuple[int, int] = (128, 64)
) -> np.ndarray:
    """Pixels of a domain's first two shots of camera 0 and first of camera 1 (None = v1)."""
    levels = None if shifts is None else levels_for(spec, 2, shifts)
    styles = camera_styles(spec, 0, levels)
    shots = plan_domain(spec, 0, 1.0, levels).shots
    out = []
    for cam, n in ((0, 2), (1, 1)):
        picked = [s for s in shots if s.cam == cam][:n]
        out.append(render_shots(spec, styles[cam], picked, 0, size, levels))
    return np.concatenate(out)


@pytest.mark.parametrize("spec", DOMAINS, ids=[d.name for d in DOMAINS])
def test_version_1_renders_the_recorded_pixels(spec: DomainSpec) -> None:
    pixels = first_shots(spec, None)
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == V1_PIXELS[spec.name]


def test_version_1_tree_and_manifest_are_the_original(tmp_path: Path) -> None:
    manifest = render_benchmark(tmp_path, 3, SCALE, SIZE, SMALL, progress=False, version=1)
    assert tree_hash(tmp_path / "synth-viper") == V1_SMALL_VIPER
    assert hashlib.sha256((tmp_path / "synth.json").read_bytes()).hexdigest() == V1_SMALL_MANIFEST
    assert manifest["version"] == 1 and "shifts" not in manifest
    assert "levels" not in manifest["domains"]["synth-market"]


@pytest.mark.parametrize("version", [2, 3])
def test_versions_2_and_3_are_deterministic_across_worker_counts(
    tmp_path: Path, version: int
) -> None:
    doms = [SMALL[4], SMALL[7]]  # GRID (capture resolution below the output) and VIPeR
    kw = {"version": version, "progress": False}
    one = render_benchmark(tmp_path / "a", 5, SCALE, (128, 64), doms, workers=1, **kw)
    two = render_benchmark(tmp_path / "b", 5, SCALE, (128, 64), doms, workers=2, **kw)
    assert one == two and tree_hash(tmp_path / "a") == tree_hash(tmp_path / "b")
    assert one["version"] == version


def test_unknown_versions_and_shift_names_list_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="viewpont.*valid: photometric, viewpoint, geo"):
        parse_shifts("viewpont,geometry")
    with pytest.raises(DgreidError, match="version 4 does not exist; valid: 1, 2, 3"):
        parse_shifts(None, 4)
    with pytest.raises(DgreidError, match="version 1 has no shift switches"):
        parse_shifts(["viewpoint"], 1)
    assert parse_shifts(None, 1) == () and parse_shifts("all", 1) == ()
    assert parse_shifts("geometry, Viewpoint") == ("viewpoint", "geometry")  # canonical order
    assert parse_shifts("none") == () and parse_shifts(None) == FAMILIES
    assert without(FAMILIES, ["photometric"]) == FAMILIES[1:]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_switched_off_is_neutral_in_every_domain(family: str) -> None:
    on = [getattr(domain_levels(d, FAMILIES), family) for d in DOMAINS]
    assert len(set(on)) > 1, f"{family}: the domains should differ while it is on"
    off = [getattr(domain_levels(d, without(FAMILIES, [family])), family) for d in DOMAINS]
    assert set(off) == {getattr(NEUTRAL, family)}
    for other in FAMILIES:  # the other families keep each domain's own level
        if other != family:
            levels = [domain_levels(d, without(FAMILIES, [family])) for d in DOMAINS]
            assert [getattr(lv, other) for lv in levels] == [
                getattr(spec_levels(d), other) for d in DOMAINS
            ]
    specs = list(DOMAINS)
    plans = [plan_domain(d, 0, SCALE) for d in specs]
    manifest = build_manifest(specs, plans, 0, SCALE, SIZE, 2, without(FAMILIES, [family]))
    recorded = [info["levels"][family] for info in manifest["domains"].values()]
    assert all(r == recorded[0] for r in recorded)
    assert manifest["shifts"] == [f for f in FAMILIES if f != family]


@functools.cache
def encoded_shots(name: str, shifts: tuple[str, ...], n: int = 200) -> tuple[bytes, ...]:
    """File bytes of a domain's first ``n`` shots of camera 0, version 2, 32x16."""
    spec = get_domain(name)
    levels = levels_for(spec, 2, shifts)
    style = camera_styles(spec, 0, levels)[0]
    shots = [s for s in plan_domain(spec, 0, 1.0, levels).shots if s.cam == 0][:n]
    pixels = render_shots(spec, style, shots, 0, SIZE, levels)
    return tuple(encode(px, Path(s.path).suffix, style.jpeg) for s, px in zip(shots, pixels))


@pytest.mark.parametrize("family", FAMILIES)
def test_each_switch_changes_the_images_of_the_domains_it_shifts(family: str) -> None:
    shifted = []
    for spec in DOMAINS:
        on = encoded_shots(spec.name, FAMILIES)
        off = encoded_shots(spec.name, without(FAMILIES, [family]))
        own = getattr(spec_levels(spec), family) != getattr(NEUTRAL, family)
        assert (on != off) == own, (family, spec.name)
        shifted.append(own)
    assert any(shifted)


def test_profiles_are_valid_levels() -> None:
    assert set(PROFILES) == {d.name for d in DOMAINS}
    for spec in DOMAINS:
        lv = spec_levels(spec)
        for probs in (
            lv.population.hair,
            lv.population.pattern,
            lv.population.bag,
            lv.viewpoint.poses,
            lv.occlusion.kinds,
            *lv.viewpoint.cameras,
        ):
            assert abs(sum(probs) - 1) < 1e-9, (spec.name, probs)
        assert len(lv.population.bag) == 5 and lv.population.palette in PALETTES
        assert lv.background.scene in BACKGROUNDS
        views = [s.view_probs for s in camera_styles(spec, 0, lv)]
        assert all(abs(sum(v) - 1) < 1e-3 for v in views)
    assert DataConfig().synth_version == VERSION  # the config's default follows the generator


def test_ensure_benchmark_renders_over_another_generator(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    doms = [SMALL[7]]
    ensure_benchmark(tmp_path, 0, SCALE, SIZE, doms, progress=False, version=1)
    with caplog.at_level(logging.WARNING):
        found = ensure_benchmark(tmp_path, 0, SCALE, SIZE, doms, progress=False)
    assert found["version"] == VERSION == 3 and found["shifts"] == list(FAMILIES)
    assert "holds the synthetic benchmark version 1; rendering version 3" in caplog.text
    again = ensure_benchmark(tmp_path, 0, SCALE, SIZE, doms, False, shifts=["viewpoint"])
    assert again["shifts"] == ["viewpoint"]


def test_a_config_refuses_a_root_of_another_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = {"sources": ["synth-viper"], "targets": ["synth-viper"]}
    render_benchmark(tmp_path / "v1", 0, SCALE, SIZE, [SMALL[7]], progress=False, version=1)
    render_benchmark(tmp_path / "v2", 0, SCALE, SIZE, [SMALL[7]], False, shifts="none")

    def no_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rendered root is never rendered over")

    monkeypatch.setattr(synthdata, "ensure_benchmark", no_render)
    with pytest.raises(DatasetError, match=r"version 1, but the config asks for version 3 "):
        synthdata.ensure_synthetic_data(Config(DataConfig(root=str(tmp_path / "v1"), **names)))
    synthdata.ensure_synthetic_data(
        Config(DataConfig(root=str(tmp_path / "v1"), synth_version=1, **names))
    )
    with pytest.raises(DatasetError, match=r"with shifts none, .*--version 3 --shifts photo"):
        synthdata.ensure_synthetic_data(Config(DataConfig(root=str(tmp_path / "v2"), **names)))
    synthdata.ensure_synthetic_data(
        Config(DataConfig(root=str(tmp_path / "v2"), synth_shifts=["none"], **names))
    )


def test_cli_switches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["synth", "--scale", "0.02", "--size", "32x16", "--quiet", "--domains", "synth-duke"]
    assert main([*base, "--out", str(tmp_path / "a"), "--no-shift", "photometric"]) == 0
    manifest = json.loads((tmp_path / "a" / "synth.json").read_text())
    assert manifest["version"] == 3 and manifest["shifts"] == list(FAMILIES[1:])
    assert "generator: version 3 with shifts viewpoint, geometry" in capsys.readouterr().out
    assert main([*base, "--out", str(tmp_path / "b"), "--shifts", "occlusion,background"]) == 0
    assert json.loads((tmp_path / "b" / "synth.json").read_text())["shifts"] == [
        "occlusion",
        "background",
    ]
    assert main([*base, "--out", str(tmp_path / "c"), "--version", "1"]) == 0
    assert json.loads((tmp_path / "c" / "synth.json").read_text())["version"] == 1
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "d"), "--shifts", "pose"]) == 1
    assert "valid: photometric, viewpoint, geometry" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "e"), "--version", "1", "--no-shift", "x"]) == 1
    assert (
        main([*base, "--out", str(tmp_path / "f"), "--version", "1", "--shifts", "geometry"]) == 1
    )
    assert "version 1 has no shift switches" in capsys.readouterr().err


# ------------------------------------------------------------------ version 3: calibration


def test_calibrated_scales_camera_and_domain_departures_by_hand() -> None:
    ph = Photometric(gain=(0.8, 1.0), cast=0.08, wb=((1.3, 1.0, 0.7), (0.85, 1.0, 1.15)),
                     saturation=(1.0, 1.2), contrast=(0.9, 1.1), gamma=(1.2, 1.4),
                     haze=(0.02, 0.1), noise=(0.03, 0.04))  # fmt: skip
    out = ph.calibrated(light=0.5, colour=0.25, domain=0.5)
    # gain: centre 0.9 -> 1 + 0.5 * -0.1 = 0.95, half-width 0.1 -> 0.05
    assert out.gain == pytest.approx((0.9, 1.0))
    assert out.cast == pytest.approx(0.02)  # 0.25 * 0.08
    # saturation: centre 1.1 -> 1.05, half-width 0.1 * colour 0.25 = 0.025
    assert out.saturation == pytest.approx((1.025, 1.075))
    assert out.contrast == pytest.approx((0.95, 1.05))  # centre 1 stays, half-width halved
    assert out.gamma == pytest.approx((1.1, 1.2))  # centre 1.3 -> 1.15, half-width 0.05
    assert out.haze == pytest.approx((0.01, 0.05)) and out.noise == (0.03, 0.04)
    # explicit casts keep their direction; the largest departure (0.3) becomes 0.25 * 0.06
    assert np.allclose(out.wb, [(1.015, 1.0, 0.985), (0.9925, 1.0, 1.0075)])


def test_version_3_changes_only_the_photometric_family_and_narrows_it() -> None:
    light, colour, domain = CALIBRATION[3]
    assert all(0 < c < 1 for c in (light, colour, domain))
    for spec in DOMAINS:
        v2, v3 = levels_for(spec, 2, FAMILIES), levels_for(spec, 3, FAMILIES)
        assert v2 is not None and v3 is not None
        assert replace(v3, photometric=v2.photometric) == v2, spec.name
        assert v3.photometric == v2.photometric.calibrated(light, colour, domain)
        assert abs(sum(v3.photometric.gain) / 2 - 1) <= abs(sum(v2.photometric.gain) / 2 - 1)
        # no camera's white balance departs further than the domain's calibrated cast allows
        top = colour * max(v2.photometric.cast, NEUTRAL.photometric.cast) + 1e-9
        assert all(abs(c - 1) <= top for s in camera_styles(spec, 0, v3) for c in s.wb)


def test_version_3_brings_prids_two_cameras_closer_in_colour() -> None:
    """The measured property behind the calibration: the channel balance of PRID's two
    cameras, which version 2 set far apart, is much closer in version 3's pixels."""
    spec = get_domain("synth-prid")

    def cast_gap(version: int) -> float:
        levels = levels_for(spec, version, FAMILIES)
        plan = plan_domain(spec, 0, 1.0, levels)
        balance = []
        for cam, style in enumerate(camera_styles(spec, 0, levels)):
            shots = [s for s in plan.shots if s.cam == cam][:40]
            px = np.stack(render_shots(spec, style, shots, 0, SIZE, levels)).astype(float)
            rgb = px.reshape(-1, 3).mean(axis=0)
            balance.append(rgb / rgb.mean())
        return float(np.abs(balance[0] - balance[1]).max())

    v2, v3 = cast_gap(2), cast_gap(3)
    assert v2 > 0.3 and v3 < v2 / 4, (v2, v3)
