"""extract_features on tiny images written by the test, with a tiny module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from dgreid.errors import DatasetError
from dgreid.evaluation.extract import extract_features
from dgreid.structures import ImageRecord


class MeanColour(nn.Module):
    """Feature = per-channel mean of the left and right halves (flip-sensitive), plus a
    dropout that would make outputs random if the module were left in train mode."""

    def __init__(self) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.shape[3] // 2
        return self.drop(torch.cat([x[..., :w].mean((2, 3)), x[..., w:].mean((2, 3))], 1))


def write_images(tmp_path, n: int = 5) -> list[ImageRecord]:
    recs = []
    for i in range(n):
        a = np.zeros((16, 8, 3), dtype=np.uint8)
        a[:, :4] = (40 * i, 10, 200)  # left half differs from the right half
        a[:, 4:] = (0, 30 * i, 50)
        p = tmp_path / f"{i:04d}_c{i % 2}.png"
        Image.fromarray(a).save(p)
        recs.append(ImageRecord(str(p), pid=i // 2, camid=i % 2, domain=3))
    return recs


def test_features_in_record_order_and_mode_restored(tmp_path):
    recs = write_images(tmp_path)
    model = MeanColour().train()
    out = extract_features(model, recs, batch_size=2, height=16, width=8, progress=False)
    assert model.training  # restored
    assert out.features.shape == (5, 6) and out.features.dtype == torch.float32
    assert out.pids.tolist() == [0, 0, 1, 1, 2] and out.camids.tolist() == [0, 1, 0, 1, 0]
    assert out.domains.tolist() == [3] * 5 and out.paths == [r.path for r in recs]
    again = extract_features(model, recs[::-1], batch_size=3, height=16, width=8, progress=False)
    torch.testing.assert_close(again.features, out.features.flip(0))  # eval mode: no dropout
    # left-half red channel grows with the image index
    assert torch.all(out.features[1:, 0] > out.features[:-1, 0])


def test_flip_averages_image_and_mirror(tmp_path):
    recs = write_images(tmp_path, 3)
    model = MeanColour()
    plain = extract_features(model, recs, 4, height=16, width=8, progress=False).features
    flip = extract_features(model, recs, 4, height=16, width=8, flip=True, progress=False).features
    mirrored = torch.cat([plain[:, 3:], plain[:, :3]], 1)
    torch.testing.assert_close(flip, (plain + mirrored) / 2)


def test_bound_method_and_errors(tmp_path):
    recs = write_images(tmp_path, 2)
    model = MeanColour().train()
    out = extract_features(model.forward, recs, 2, height=16, width=8, progress=False)
    assert out.features.shape == (2, 6) and model.training
    with pytest.raises(ValueError, match="no records"):
        extract_features(model, [], 2)
    missing = [ImageRecord(str(tmp_path / "nope.jpg"), 0, 0)]
    with pytest.raises(DatasetError, match="nope.jpg"):
        extract_features(model, missing, 2, progress=False)
