"""The training augmentation options (``data.pad``, ``data.color_jitter``, ``data.grayscale``,
``data.erasing``, ``data.augmix``).

Shows: with the options at their defaults the transform is the flip / pad 10 / crop it was
before they existed; each option's result depends only on the image's seed (same seed, same
tensor; other seeds, other tensors), leaves the caller's RNG alone and changes the image; the
erased rectangle and the grayscale image are what they claim; every stream of a tiny episodic
run (stage 0, each extractor, the main run) gets the config's augmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from conftest import AUGMENT_OPTIONS, augmentation_of, tiny_config
from dgreid.config import Config
from dgreid.data import photometric as P
from dgreid.data.transforms import (
    MEAN,
    PAD,
    STD,
    Augmentation,
    build_transform,
    normalise,
    pixel_ops,
)
from dgreid.engine import ImageStream
from dgreid.experiments.train_run import run_training
from dgreid.experiments.trainer_args import augmentation

H, W = 16, 8
SEEDS = range(8)
#: the options that act after the crop (data.pad moves the crop itself)
PIXEL_OPTIONS = [name for name in AUGMENT_OPTIONS if name != "pad"]


@pytest.fixture(scope="module")
def image() -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, size=(30, 13, 3)).astype(np.uint8))


@pytest.fixture(scope="module")
def crop() -> torch.Tensor:
    """A flipped-and-cropped image as both paths hand it on: uint8 3 x H x W."""
    rng = np.random.default_rng(4)
    return torch.from_numpy(rng.integers(0, 256, size=(3, H, W)).astype(np.uint8))


def under_seed(transform: T.Compose, img: Image.Image, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return transform(img)


def test_options_off_by_default() -> None:
    aug = augmentation(Config())
    assert aug == Augmentation() and aug.pad == PAD == 10
    assert not aug.pixel_ops_on and aug.changed() == {}


@pytest.mark.parametrize("pad", [PAD, 3])
def test_options_off_is_the_transform_before_them(image: Image.Image, pad: int) -> None:
    """Flip, pad, crop, ToTensor, Normalize as torchvision composes them: the same tensor."""
    before = T.Compose(
        [
            T.Resize((H, W), interpolation=T.InterpolationMode.BILINEAR),
            T.RandomHorizontalFlip(),
            T.Pad(pad),
            T.RandomCrop((H, W)),
            T.ToTensor(),
            T.Normalize(MEAN, STD),
        ]
    )
    now = build_transform(H, W, train=True, aug=Augmentation(pad=pad))
    outputs = [under_seed(now, image, seed) for seed in SEEDS]
    for seed, out in zip(SEEDS, outputs):
        assert torch.equal(out, under_seed(before, image, seed)), seed
    assert len({o.numpy().tobytes() for o in outputs}) > 1


@pytest.mark.parametrize("option", PIXEL_OPTIONS)
def test_each_option_depends_only_on_the_seed(crop: torch.Tensor, option: str) -> None:
    """Same seed, same tensor (whatever the caller's RNG); other seeds give other tensors; some
    seed changes the image; the caller's RNG state and the input image are as they were."""
    aug = augmentation_of(AUGMENT_OPTIONS[option])
    original = crop.clone()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = [pixel_ops(crop, seed, aug) for seed in SEEDS]
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)
    again = [pixel_ops(crop, seed, aug) for seed in SEEDS]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert len({t.numpy().tobytes() for t in first}) > 1
    plain = normalise(crop[None])[0]
    assert any(not torch.equal(t, plain) for t in first)
    assert torch.equal(crop, original)


def test_erasing_fills_a_rectangle_with_the_mean(crop: torch.Tensor) -> None:
    """data.erasing=1: every image gets one rectangle of 0 (the mean colour after normalising),
    covering 2% to 40% of it; the rest is the image unchanged."""
    plain = normalise(crop[None])[0]
    for seed in SEEDS:
        out = pixel_ops(crop, seed, Augmentation(erasing=1.0))
        erased = (out != plain).any(0)
        rows, cols = erased.any(1).nonzero(), erased.any(0).nonzero()
        box = erased[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert bool(box.all()) and int(erased.sum()) == box.numel()
        slack = (H + W) / 2 + 1  # the rectangle's sides are rounded to whole pixels
        low, high = P.ERASE_AREA
        assert low * H * W - slack <= box.numel() <= high * H * W + slack
        assert bool((out[:, erased] == 0).all())


def test_grayscale_gives_equal_channels(crop: torch.Tensor) -> None:
    """data.grayscale=1: the three channels of every image are its gray level."""
    gray = (0.299 * crop[0] + 0.587 * crop[1] + 0.114 * crop[2]).round()
    for seed in SEEDS:
        out = pixel_ops(crop, seed, Augmentation(grayscale=1.0))
        assert torch.equal(out, normalise(gray.expand(3, H, W)[None].to(torch.uint8))[0])


def test_color_jitter_of_a_flat_gray_image_scales_its_level() -> None:
    """A flat gray image keeps its contrast and saturation (it is its own mean and gray level):
    jitter of strength 0.2 only scales level 100 by a factor in [0.8, 1.2]; strength 0 leaves
    any image as it is."""
    flat = torch.full((3, H, W), 100, dtype=torch.uint8)
    g = torch.Generator()
    levels = set()
    for seed in SEEDS:
        out = P.color_jitter(flat, 0.2, g.manual_seed(seed))
        assert bool((out == out[0, 0, 0]).all())
        levels.add(int(out[0, 0, 0]))
    assert len(levels) > 1 and all(80 <= v <= 120 for v in levels)
    noisy = torch.randint(0, 256, (3, H, W), dtype=torch.uint8, generator=g.manual_seed(1))
    assert torch.equal(P.color_jitter(noisy, 0.0, g), noisy)


def test_every_stream_of_an_episodic_run_gets_the_augmentation(
    tiny_benchmark: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2-iteration episodic run with every option on trains, and stage 0, each source's
    extractor and the main run all open their streams with the config's augmentation."""
    opened: list[Augmentation] = []
    open_stream = ImageStream.open

    def spy(self: ImageStream, *args: object, **kwargs: object) -> object:
        opened.append(self.augment)
        return open_stream(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ImageStream, "open", spy)
    cfg = tiny_config("episodic", tiny_benchmark, tmp_path / "run", *AUGMENT_OPTIONS["all"])
    run_training(cfg, evaluate=False)
    assert (tmp_path / "run" / "model.pt").is_file()
    expected = augmentation(cfg)
    assert expected.pixel_ops_on and expected.pad == 3
    assert len(opened) >= 2 + len(cfg.data.sources) and set(opened) == {expected}
