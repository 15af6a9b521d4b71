"""The decoded-image cache (issue 18, point 1): each training image decoded once, resized and
kept as uint8; augmentation on tensors.

Shows: the cache holds the pixels decoding + resizing gives; the cached augmentation is the
decoding path's, bit for bit, image by image and batch by batch, with 0 or 2 workers and after
a resume mid-epoch; a cache over its budget, a corrupt image, a cache of another size and an
unknown ``data.cache`` are refused with messages naming what was asked and what exists; a tiny
``dgreid train`` with the cache ends with the same weights as without it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import AUGMENT_OPTIONS, augmentation_of, tiny_config, write_crops
from dgreid.config import Config
from dgreid.data.image_cache import MB, CachedImageDataset, build_image_cache
from dgreid.data.image_dataset import ImageDataset, read_image
from dgreid.data.transforms import build_transform, resize_image
from dgreid.engine import ImageStream
from dgreid.engine.loader import SeededDataset
from dgreid.errors import DatasetError
from dgreid.experiments.train_run import run_training
from dgreid.experiments.trainer_args import image_cache
from dgreid.structures import Batch, ImageRecord

H, W = 16, 8


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[ImageRecord]:
    return write_crops(tmp_path_factory.mktemp("crops"))


def epoch_batches(stream: ImageStream, epoch: int, skip: int = 0, workers: int = 0) -> list:
    """Epoch ``epoch``'s batches of ``stream`` (4 of 8 images, seed 5), ``skip`` left out."""
    opened = ImageStream(
        stream.records, 2, stream.height, stream.width, workers, stream.cache, stream.augment
    ).open("pk", batch_size=8, seed=5, iters_per_epoch=4)
    return list(opened.epoch(epoch, skip=skip))


def assert_same_batches(a: list[Batch], b: list[Batch]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.equal(x.images, y.images) and torch.equal(x.pids, y.pids)
        assert x.paths == y.paths


def test_cache_holds_decoded_resized_pixels(records: list[ImageRecord]) -> None:
    """Every distinct image once, as read_image + the bilinear resize give it; normalised, the
    test-time transform's tensor exactly."""
    cache = build_image_cache(records + records[:3], H, W, budget_mb=1, progress=False)
    assert cache.pixels.shape == (len(records), H, W, 3) and cache.pixels.dtype == torch.uint8
    test_tf = build_transform(H, W, train=False)
    for rec in records:
        img = read_image(rec.path)
        expected = np.asarray(resize_image(img, H, W))
        row = cache.rows[rec.path]
        assert np.array_equal(cache.pixels[row].numpy(), expected), rec.path
        as_float = cache.pixels[row].permute(2, 0, 1).float().div(255)
        mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
        normalised = as_float.sub(mean[:, None, None]).div(std[:, None, None])
        assert torch.equal(normalised, test_tf(img))


@pytest.mark.parametrize("options", ["default", *AUGMENT_OPTIONS])
def test_cached_augmentation_is_the_decoding_paths(
    records: list[ImageRecord], options: str
) -> None:
    """For each (image, seed): the cached batch's tensor == the decoding path's tensor, with the
    default augmentation and with each ``data.*`` option on; the records' fields untouched."""
    aug = augmentation_of(AUGMENT_OPTIONS.get(options, []))
    cache = build_image_cache(records, H, W, budget_mb=1, progress=False)
    cached = CachedImageDataset(cache, records, aug)
    decoded = SeededDataset(ImageDataset(records, build_transform(H, W, train=True, aug=aug)))
    items = [(i, 7 + 987_654_321 * i) for i in range(len(records))]
    batch = cached[items]
    assert batch.images.shape == (len(records), 3, H, W)
    flips = 0
    for k, item in enumerate(items):
        image, rec = decoded[item]  # type: ignore[misc]
        assert torch.equal(batch.images[k], image), records[k].path
        assert batch.pids[k] == rec.pid and batch.paths[k] == rec.path
        assert (batch.camids[k], batch.domains[k]) == (rec.camid, rec.domain)
        flips += torch.equal(image, image.flip(2))
    assert flips < len(items)  # the images are not symmetric: flips were checked


@pytest.mark.parametrize("options", ["default", "all"])
def test_stream_same_batches_any_workers_and_after_resume(
    records: list[ImageRecord], options: str
) -> None:
    """The cached stream gives the decoding stream's batches, with 0 or 2 workers, and a resume
    two batches into an epoch gives the rest of that epoch; also with every option on."""
    aug = augmentation_of(AUGMENT_OPTIONS.get(options, []))
    cache = build_image_cache(records, H, W, budget_mb=1, progress=False)
    decoding = ImageStream(records, 2, H, W, augment=aug)
    cached = ImageStream(records, 2, H, W, cache=cache, augment=aug)
    reference = epoch_batches(decoding, epoch=1)
    assert_same_batches(epoch_batches(cached, epoch=1), reference)
    assert_same_batches(epoch_batches(cached, epoch=1, workers=2), reference)
    assert_same_batches(epoch_batches(cached, epoch=1, skip=2), reference[2:])
    other = epoch_batches(cached, epoch=2)
    assert not torch.equal(other[0].images, reference[0].images)


def test_budget_too_small_names_images_bytes_budget_and_key(
    records: list[ImageRecord], caplog: pytest.LogCaptureFixture
) -> None:
    """memory: refused before decoding, naming the count, the MB needed, the budget and the
    key; auto: decodes on the fly, with one log line saying so."""
    big = [ImageRecord(f"/nowhere/{i}.jpg", i // 4, i % 2) for i in range(1000)]
    need = 1000 * 256 * 128 * 3
    with pytest.raises(DatasetError) as err:
        build_image_cache(big, 256, 128, budget_mb=50, progress=False)
    msg = str(err.value)
    assert "caching 1000 images at 256x128" in msg and f"{need / MB:.1f} MB" in msg
    assert "data.cache_budget_mb=50" in msg and "to at least 94" in msg
    assert "data.cache=auto" in msg and "data.cache=none" in msg

    cfg = Config()
    cfg.data.height, cfg.data.width, cfg.data.cache_budget_mb = 256, 128, 50
    cfg.data.cache = "memory"
    with pytest.raises(DatasetError, match="data.cache_budget_mb=50"):
        image_cache(cfg, big, progress=False)
    cfg.data.cache = "auto"
    caplog.set_level(logging.INFO, logger="dgreid")
    assert image_cache(cfg, big, progress=False) is None
    lines = [r.getMessage() for r in caplog.records if "data.cache=auto" in r.getMessage()]
    assert len(lines) == 1 and "decoding the images on the fly" in lines[0]


def test_bad_mode_size_mismatch_and_missing_image_are_refused(
    records: list[ImageRecord],
) -> None:
    cfg = Config()
    cfg.data.cache = "disk"
    with pytest.raises(DatasetError, match="data.cache='disk'; expected one of auto, memory, none"):
        image_cache(cfg, records)
    cfg.data.cache = "none"
    assert image_cache(cfg, records) is None
    cache = build_image_cache(records[:4], H, W, budget_mb=1, progress=False)
    with pytest.raises(DatasetError, match="holds 16x8 images; this stream needs 32x16"):
        ImageStream(records[:4], height=32, width=16, cache=cache)
    with pytest.raises(DatasetError, match="12 of 16 images are not in the image cache of 4"):
        CachedImageDataset(cache, records)


def test_corrupt_image_names_the_file(records: list[ImageRecord], tmp_path: Path) -> None:
    """As require_readable: every unreadable file with its reason."""
    broken = tmp_path / "0009_c1_0.jpg"
    broken.write_bytes(b"not a jpeg")
    missing = tmp_path / "0009_c2_1.jpg"
    bad = [ImageRecord(str(broken), 9, 0), ImageRecord(str(missing), 9, 1)]
    with pytest.raises(DatasetError) as err:
        build_image_cache(records[:3] + bad, H, W, budget_mb=1, progress=False)
    msg = str(err.value)
    assert msg.startswith("2 image(s) cannot be decoded")
    assert f"{broken}: cannot decode image" in msg and f"{missing}: file not found" in msg


@pytest.mark.parametrize("options", ["default", "all"])
def test_training_with_cache_matches_decoding(
    tiny_benchmark: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, options: str
) -> None:
    """A tiny baseline run with data.cache=memory logs the cache and ends with the weights of
    the same run with data.cache=none; also with every augmentation option on."""
    caplog.set_level(logging.INFO, logger="dgreid")
    weights = {}
    for mode in ("memory", "none"):
        cfg = tiny_config(
            "baseline", tiny_benchmark, tmp_path / mode, f"data.cache={mode}",
            *AUGMENT_OPTIONS.get(options, []),
        )  # fmt: skip
        run_training(cfg, evaluate=False)
        data = torch.load(tmp_path / mode / "model.pt", map_location="cpu", weights_only=True)
        weights[mode] = data["state_dict"]
    built = [r.getMessage() for r in caplog.records if r.getMessage().startswith("image cache:")]
    assert len(built) == 1 and "at 32x16" in built[0]
    assert weights["memory"].keys() == weights["none"].keys()
    for key, value in weights["memory"].items():
        assert torch.equal(value, weights["none"][key]), key
