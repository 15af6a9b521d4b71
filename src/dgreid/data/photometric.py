"""The random pixel operations of the training augmentation, one image at a time: colour
jitter, grayscale and AugMix on a uint8 3 x H x W image, random erasing on the normalised one.

Every draw comes from the generator passed in, so an image's result depends only on that
generator's seed (:func:`dgreid.data.transforms.pixel_ops` seeds it per image). Plain tensor
arithmetic instead of torchvision's per-image functional ops, which cost hundreds of
microseconds each on a crop of a few thousand pixels; AugMix alone is torchvision's.
"""

from __future__ import annotations

import math

import torch
from torchvision import transforms as T

#: ITU-R 601-2 luma weights (PIL's ``convert("L")``) of red, green and blue.
LUMA = (0.299, 0.587, 0.114)
#: Random erasing's range of the erased area (fraction of the image) and of its aspect ratio
#: (height / width), and how many rectangles it draws before giving up on one that fits.
ERASE_AREA = (0.02, 0.4)
ERASE_ASPECT = (0.3, 3.3)
ERASE_TRIES = 10


def uniform(g: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    """One number drawn uniformly from ``[low, high)`` with ``g``."""
    return float(torch.empty(1).uniform_(low, high, generator=g))


def luma(image: torch.Tensor) -> torch.Tensor:
    """The gray level (float 1 x H x W) of a 3 x H x W image."""
    r, g, b = image.float().unbind(0)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(0)


def color_jitter(image: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """uint8 ``image`` with brightness, contrast and saturation each scaled by a factor drawn
    from ``[max(0, 1 - strength), 1 + strength]``, in a random order. Brightness scales the
    pixels; contrast blends with the image's mean gray level, saturation with each pixel's gray
    level (factor 0: that gray; 1: unchanged). Values are kept in [0, 255] after each step and
    rounded once at the end."""
    low, high = max(0.0, 1.0 - strength), 1.0 + strength
    factors = [uniform(g, low, high) for _ in range(3)]
    x = image.float()
    for k in torch.randperm(3, generator=g).tolist():
        if k == 0:
            x = x * factors[0]
        else:
            gray = _mean_gray(x) if k == 1 else luma(x)
            x = (x - gray) * factors[k] + gray
        x = x.clamp_(0, 255)
    return x.round_().to(torch.uint8)


def _mean_gray(x: torch.Tensor) -> torch.Tensor:
    """The mean of the rounded gray levels, summed as integers: exact, so the same whatever
    the number of threads."""
    levels = luma(x).round_().to(torch.int64)
    return levels.sum() / levels.numel()


def grayscale(image: torch.Tensor) -> torch.Tensor:
    """uint8 ``image`` turned gray: its rounded gray level in all three channels."""
    return luma(image).round_().clamp_(0, 255).to(torch.uint8).repeat(3, 1, 1)


def augmix(image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """torchvision's AugMix (its defaults) of uint8 ``image``, its draws from torch's generator
    seeded from ``g``; the caller's global generator state is kept."""
    seed = int(torch.randint(0, 2**62, (1,), generator=g))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU generator alone: AugMix draws there
        return T.AugMix()(image)


def erase(image: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random erasing (Zhong et al., 2017): a rectangle of :data:`ERASE_AREA` of the image, of
    aspect :data:`ERASE_ASPECT` (drawn uniformly in log scale), set to 0; the first of
    :data:`ERASE_TRIES` draws that fits, and the image unchanged when none does."""
    _, h, w = image.shape
    for _ in range(ERASE_TRIES):
        area = h * w * uniform(g, *ERASE_AREA)
        aspect = math.exp(uniform(g, math.log(ERASE_ASPECT[0]), math.log(ERASE_ASPECT[1])))
        eh, ew = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < eh < h and 0 < ew < w:
            top = int(torch.randint(0, h - eh + 1, (1,), generator=g))
            left = int(torch.randint(0, w - ew + 1, (1,), generator=g))
            out = image.clone()
            out[:, top : top + eh, left : left + ew] = 0
            return out
    return image
