"""Image transforms: the training augmentation and the test-time resize.

The augmentation exists twice, with the same result: :func:`build_transform` on a decoded PIL
image (random choices from torch's global generator, seeded per image by the loader), and
:func:`augment_batch` on a batch of already-resized uint8 images (the decoded-image cache), whose
choices :func:`draw_flip_crop` takes from a generator seeded with the same per-image seed, in
torchvision's order. Both resize with PIL's bilinear filter first (:func:`resize_image`), so for
the same image and seed the two give the same float tensor, bit for bit.

After the flip and crop both paths hold the image as uint8 3 x H x W and hand it to one function,
:func:`pixel_ops`: the colour jitter, grayscale and AugMix that :class:`Augmentation` turns on,
the normalisation, then random erasing. Its draws come from a generator of its own, seeded with
one more number drawn after the crop's, so they depend only on the image's seed. With these
operations off the result is the flip / pad / crop / normalise it always was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from PIL import Image
from torchvision import transforms as T

from dgreid.data import photometric as P

#: ImageNet statistics, used for every backbone (also those trained from scratch).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
#: Zero padding on each side before the random crop back to the input size (``data.pad``).
PAD = 10
#: Exclusive bound of the seed of :func:`pixel_ops`, drawn after the crop.
_SEED_BOUND = 2**62


@dataclass(frozen=True)
class Augmentation:
    """The training augmentation (the ``data.*`` keys of the same names). Every image is flipped
    at random, zero-padded by ``pad`` and cropped back at a random corner; then, when on:
    ``color_jitter`` > 0 is the strength of :func:`~dgreid.data.photometric.color_jitter`;
    ``grayscale`` the probability of turning the image gray; ``augmix`` applies torchvision's
    AugMix (its defaults); ``erasing`` is the probability of random erasing
    (:func:`~dgreid.data.photometric.erase`) on the normalised image, filling with 0, the mean
    colour."""

    pad: int = PAD
    color_jitter: float = 0.0
    grayscale: float = 0.0
    erasing: float = 0.0
    augmix: bool = False

    @property
    def pixel_ops_on(self) -> bool:
        """Whether anything after the crop draws random numbers."""
        return bool(self.color_jitter or self.grayscale or self.erasing or self.augmix)

    def changed(self) -> dict[str, object]:
        """The settings that differ from the defaults (the augmentation before these keys)."""
        default = Augmentation()
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in values.items() if v != getattr(default, k)}


def resize_image(img: Image.Image, height: int, width: int) -> Image.Image:
    """``img`` resized to ``height x width`` as torchvision's ``Resize`` does it on PIL images."""
    return img.resize((width, height), Image.Resampling.BILINEAR)


def build_transform(
    height: int, width: int, train: bool, aug: Augmentation | None = None
) -> Callable[[Image.Image], torch.Tensor]:
    """Test: resize + normalise. Train: resize, random flip, pad then random crop, and the pixel
    operations ``aug`` turns on (:func:`pixel_ops`)."""
    resize = T.Resize((height, width), interpolation=T.InterpolationMode.BILINEAR)
    if not train:
        return T.Compose([resize, T.ToTensor(), T.Normalize(MEAN, STD)])
    aug = aug or Augmentation()
    ops = [resize, T.RandomHorizontalFlip(), T.Pad(aug.pad), T.RandomCrop((height, width))]
    return T.Compose([*ops, T.PILToTensor(), _PixelOps(aug)])


class _PixelOps:
    """:func:`pixel_ops` with a seed drawn from torch's global generator, as
    :func:`draw_flip_crop` draws it after the crop; normalisation alone when nothing is on."""

    def __init__(self, aug: Augmentation) -> None:
        self.aug = aug

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if not self.aug.pixel_ops_on:
            return normalise(image[None])[0]
        seed = int(torch.randint(0, _SEED_BOUND, (1,)))
        return pixel_ops(image, seed, self.aug)


@dataclass(frozen=True)
class FlipCrop:
    """One image's random choices: mirror it, the crop's corner in the padded image, and the
    seed of its :func:`pixel_ops`."""

    flip: bool
    top: int
    left: int
    seed: int = 0


def draw_flip_crop(seed: int, pad: int = PAD, generator: torch.Generator | None = None) -> FlipCrop:
    """The choices :func:`build_transform` makes under ``torch.manual_seed(seed)``: the same
    draws (flip, then the crop's row, then its column, then the pixel operations' seed) from a
    generator seeded with ``seed``."""
    g = (generator or torch.Generator()).manual_seed(seed)
    flip = bool(torch.rand(1, generator=g) < 0.5)
    top = left = 0
    if pad > 0:  # else the crop is the whole image: torchvision draws nothing
        top = int(torch.randint(0, 2 * pad + 1, (1,), generator=g))
        left = int(torch.randint(0, 2 * pad + 1, (1,), generator=g))
    return FlipCrop(flip, top, left, int(torch.randint(0, _SEED_BOUND, (1,), generator=g)))


def augment_batch(
    images: Sequence[torch.Tensor], choices: Sequence[FlipCrop], aug: Augmentation | None = None
) -> torch.Tensor:
    """Flip, zero-pad by ``aug.pad`` and crop back each of ``images`` (uint8, H x W x 3, all one
    size) as ``choices`` say, then the pixel operations and normalisation: float N x 3 x H x W,
    as :func:`build_transform` gives for each image."""
    aug = aug or Augmentation()
    pad = aug.pad
    h, w, _ = images[0].shape
    out = torch.zeros((len(images), 3, h, w), dtype=torch.uint8)
    for i, c in enumerate(choices):
        img = images[i].permute(2, 0, 1)
        if c.flip:
            img = img.flip(2)
        dy, dx = c.top - pad, c.left - pad  # the crop's corner in the unpadded image
        y0, y1, x0, x1 = max(0, -dy), min(h, h - dy), max(0, -dx), min(w, w - dx)
        if y0 < y1 and x0 < x1:  # else the crop is all padding (pad > a side)
            out[i, :, y0:y1, x0:x1] = img[:, y0 + dy : y1 + dy, x0 + dx : x1 + dx]
    if not aug.pixel_ops_on:
        return normalise(out)
    g = torch.Generator()
    return torch.stack([pixel_ops(out[i], c.seed, aug, g) for i, c in enumerate(choices)])


def pixel_ops(
    image: torch.Tensor, seed: int, aug: Augmentation, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``image`` (uint8 3 x H x W, flipped and cropped) after ``aug``'s colour jitter, grayscale
    and AugMix, normalised, then randomly erased: every draw from a generator (``generator``,
    or a new one) seeded with ``seed``."""
    g = (generator or torch.Generator()).manual_seed(seed)
    if aug.color_jitter > 0:
        image = P.color_jitter(image, aug.color_jitter, g)
    if aug.grayscale > 0 and P.uniform(g) < aug.grayscale:
        image = P.grayscale(image)
    if aug.augmix:
        image = P.augmix(image, g)
    out = normalise(image[None])[0]
    if aug.erasing > 0 and P.uniform(g) < aug.erasing:
        out = P.erase(out, g)
    return out


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W to float, scaled to [0, 1] and standardised with :data:`MEAN` and
    :data:`STD` (the same arithmetic as ``ToTensor`` then ``Normalize``)."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return images.float().div_(255).sub_(mean).div_(std)
