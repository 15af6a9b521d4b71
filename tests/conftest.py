"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image


def _write_tiny_image(path: Path, shade: int = 128) -> Path:
    """Write an 8x4 (h x w) RGB image in the format its extension names; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 8), (shade, 255 - shade, 60)).save(path)
    return path


@pytest.fixture
def tiny_image() -> Callable[..., Path]:
    """``tiny_image(path, shade=128)`` writes an 8x4 image (jpg/png/bmp by extension)."""
    return _write_tiny_image
