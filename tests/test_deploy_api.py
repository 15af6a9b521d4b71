"""``dgreid.load`` and ``ReIDModel.embed`` on PIL images, paths and tensor batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import dgreid
from dgreid.data.transforms import build_transform
from dgreid.deploy.api import InputError
from dgreid.errors import CheckpointError
from test_deploy_helpers import H, W, make_run, write_images


def test_embed_same_features_for_pil_paths_and_tensor(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    paths = write_images(tmp_path / "imgs", 5)
    model = dgreid.load(run, device="cpu")
    assert model.method == "baseline" and model.input_size == (H, W)
    assert model.sources == ["synth-market", "synth-duke"] and model.device.type == "cpu"
    from_paths = model.embed([str(p) for p in paths], batch_size=2)
    pils = [Image.open(p) for p in paths]
    from_pil = model.embed(pils)
    tf = build_transform(H, W, train=False)
    batch = torch.stack([tf(im.convert("RGB")) for im in pils])
    from_tensor = model.embed(batch, batch_size=3)
    assert from_paths.shape == (5, model.feat_dim)
    assert torch.allclose(from_paths, from_pil, atol=1e-5)
    assert torch.allclose(from_paths, from_tensor, atol=1e-5)
    single = model.embed(paths[0])
    assert torch.allclose(single[0], from_paths[0], atol=1e-5)
    # different images give different features (the model is not constant)
    assert not torch.allclose(from_paths[0], from_paths[1], atol=1e-3)


def test_model_file_path_and_errors(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    model = dgreid.load(run / "model.pt", device="cpu")
    with pytest.raises(InputError, match=rf"\(N, 3, {H}, {W}\)"):
        model.embed(torch.zeros(2, 3, H + 1, W))
    with pytest.raises(CheckpointError, match="no model.pt"):
        dgreid.load(tmp_path, device="cpu")


def test_embed_takes_numpy_rgb_images(tmp_path: Path) -> None:
    import numpy as np

    run = make_run(tmp_path / "run")
    paths = write_images(tmp_path / "imgs", 3)
    model = dgreid.load(run, device="cpu")
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    from_paths = model.embed([str(p) for p in paths])
    assert torch.allclose(model.embed(arrays), from_paths, atol=1e-5)
    assert torch.allclose(model.embed(arrays[1])[0], from_paths[1], atol=1e-5)
    bgr = arrays[0][..., ::-1]  # an OpenCV frame: reversed back to RGB by the caller
    assert torch.allclose(model.embed(bgr[..., ::-1])[0], from_paths[0], atol=1e-5)
    assert not torch.allclose(model.embed(bgr)[0], from_paths[0], atol=1e-4)
    with pytest.raises(InputError, match=r"shape \(H, W, 3\) and dtype uint8 in RGB"):
        model.embed(arrays[0].astype(np.float32))


def test_flip_is_recorded_and_embeds_as_evaluation_did(tmp_path: Path) -> None:
    from dgreid.deploy.model_file import read_model_file
    from dgreid.evaluation.extract import extract_features
    from dgreid.structures import ImageRecord
    from dgreid.utils.io import atomic_torch_save

    run = make_run(tmp_path / "run", overrides=["eval.flip=true"])
    paths = write_images(tmp_path / "imgs", 4)
    model = dgreid.load(run, device="cpu")
    assert model.flip and model.meta.flip
    plain = dgreid.load(run, device="cpu", flip=False)
    assert not plain.flip
    batch = torch.stack([model.preprocess(p) for p in paths])
    both = (plain.embed(batch) + plain.embed(torch.flip(batch, dims=[3]))) / 2
    assert torch.allclose(model.embed(batch), both, atol=1e-6)
    assert not torch.allclose(plain.embed(batch), both, atol=1e-4)
    # the evaluation's flip-averaged features are the API's
    records = [ImageRecord(str(p), i, 0, 0) for i, p in enumerate(paths)]
    evaluated = extract_features(
        model.backend.method.embed, records, flip=True, height=H, width=W, progress=False
    )
    assert torch.allclose(evaluated.features, model.embed([str(p) for p in paths]), atol=1e-5)
    # a model file written before flip was recorded embeds one pass; a bad value is refused
    old = read_model_file(run / "model.pt")
    del old["meta"]["flip"]
    atomic_torch_save(tmp_path / "old.pt", old)
    assert not dgreid.load(tmp_path / "old.pt", device="cpu").flip
    old["meta"]["flip"] = "yes"
    atomic_torch_save(tmp_path / "bad.pt", old)
    with pytest.raises(CheckpointError, match=r"bad.pt: metadata field 'flip' is 'yes'"):
        dgreid.load(tmp_path / "bad.pt", device="cpu")
