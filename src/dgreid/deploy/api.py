"""``dgreid.load(path)``: a trained model (PyTorch or ONNX) behind one small embedding API."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from dgreid.data.image_dataset import read_image
from dgreid.deploy.model_file import ModelMeta, load_model_file
from dgreid.engine.device import resolve_device
from dgreid.errors import CheckpointError, DgreidError
from dgreid.evaluation.extract import flip_averaged

#: One image as ``embed`` accepts it: a file path, a PIL image, or an HxWx3 uint8 numpy array in
#: RGB order (an OpenCV frame is BGR: pass ``frame[..., ::-1]``).
ImageInput = str | Path | Image.Image | np.ndarray

#: The ranking distance of a model whose file records none (written before it was recorded).
DEFAULT_METRIC = "euclidean"

#: ONNX metadata_props key holding the full :class:`ModelMeta` as JSON.
ONNX_META_KEY = "dgreid.meta"


class InputError(DgreidError, ValueError):
    """Images given to ``embed`` have the wrong type or size."""


class Backend(Protocol):
    """Maps a normalised NCHW float batch to features; knows where it runs."""

    device: torch.device

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class TorchBackend:
    """A rebuilt :class:`~dgreid.methods.base.Method` in eval mode."""

    def __init__(self, method: torch.nn.Module, device: torch.device) -> None:
        self.method = method.to(device).eval()
        self.device = device

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.method.embed(images.to(self.device)).float().cpu()  # type: ignore[operator]


class OnnxBackend:
    """An onnxruntime session over a model written by ``dgreid export``."""

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise CheckpointError(
                f"{path}: reading ONNX models needs onnxruntime (pip install 'dgreid[onnx]')"
            ) from e
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise CheckpointError(f"{path}: onnxruntime cannot load this model: {e}") from e
        self.input_name = self.session.get_inputs()[0].name
        self.device = torch.device("cpu")

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {self.input_name: images.float().cpu().numpy()})[0]
        return torch.from_numpy(out)


def onnx_meta(path: Path, session_meta: dict[str, str]) -> ModelMeta:
    """Read the :class:`ModelMeta` that ``dgreid export`` stored in the ONNX metadata_props."""
    raw = session_meta.get(ONNX_META_KEY)
    if raw is None:
        raise CheckpointError(
            f"{path}: no {ONNX_META_KEY!r} metadata; only ONNX files written by "
            "'dgreid export' can be loaded"
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: {ONNX_META_KEY!r} metadata is not JSON: {e}") from e
    return ModelMeta.from_dict(data, str(path))


def _image_transform(meta: ModelMeta) -> Callable[[Image.Image], torch.Tensor]:
    from dgreid.data.transforms import MEAN, STD, build_transform

    h, w = meta.input_size
    if tuple(meta.mean) == tuple(MEAN) and tuple(meta.std) == tuple(STD):
        return build_transform(h, w, train=False)
    from torchvision import transforms as T

    return T.Compose(
        [
            T.Resize((h, w), interpolation=T.InterpolationMode.BILINEAR),
            T.ToTensor(),
            T.Normalize(meta.mean, meta.std),
        ]
    )


class ReIDModel:
    """A trained re-ID model ready for embedding: ``features = model.embed(images)``."""

    def __init__(
        self, backend: Backend, meta: ModelMeta, source: str, flip: bool | None = None
    ) -> None:
        self.backend = backend
        # ``meta.flip`` says how this model embeds: as its run evaluated, unless ``flip`` says
        self.meta = meta if flip is None else dataclasses.replace(meta, flip=flip)
        self.source = source
        self.transform = _image_transform(meta)

    @property
    def method(self) -> str:
        """Name of the DG method that trained the model."""
        return self.meta.method

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) the images are resized to."""
        return self.meta.input_size

    @property
    def feat_dim(self) -> int:
        """Width of the re-ID feature."""
        return self.meta.feat_dim

    @property
    def sources(self) -> list[str]:
        """The source datasets the model was trained on."""
        return list(self.meta.sources)

    @property
    def metric(self) -> str:
        """The distance the model was evaluated with (its run's ``eval.metric``), the one to rank
        with; :data:`DEFAULT_METRIC` for a model file written before it was recorded."""
        return self.meta.metric or DEFAULT_METRIC

    @property
    def flip(self) -> bool:
        """Whether a feature is the mean of the image's and its horizontal mirror's, as the
        run's evaluation computed it (``eval.flip``, recorded in the model file)."""
        return self.meta.flip

    @property
    def device(self) -> torch.device:
        return self.backend.device

    def __repr__(self) -> str:
        h, w = self.input_size
        return (
            f"ReIDModel(method={self.method!r}, input_size=({h}, {w}), feat_dim={self.feat_dim}, "
            f"sources={self.sources}, flip={self.flip}, device={self.device}, "
            f"source={self.source!r})"
        )

    def preprocess(self, image: ImageInput) -> torch.Tensor:
        """One PIL image, file path or HxWx3 uint8 RGB array -> a normalised CHW tensor at the
        model's input size."""
        if isinstance(image, (str, Path)):
            image = read_image(str(image))
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise InputError(
                    "embed: expected a numpy image of shape (H, W, 3) and dtype uint8 in RGB "
                    f"order, got shape {image.shape} dtype {image.dtype}"
                )
            image = Image.fromarray(np.ascontiguousarray(image), "RGB")
        if not isinstance(image, Image.Image):
            raise InputError(
                "embed: expected PIL images, file paths or HxWx3 uint8 RGB numpy arrays, got "
                f"{type(image).__name__}"
            )
        return self.transform(image.convert("RGB"))

    def embed_batch(self, images: torch.Tensor) -> torch.Tensor:
        """Features of a normalised NCHW float batch already at the model's input size."""
        h, w = self.input_size
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[2:]) != (h, w):
            raise InputError(
                f"embed: expected a float tensor of shape (N, 3, {h}, {w}) normalised with "
                f"mean={list(self.meta.mean)} std={list(self.meta.std)}, got {tuple(images.shape)}"
            )
        if not images.is_floating_point():
            raise InputError(f"embed: expected a float tensor, got {images.dtype}")
        return flip_averaged(self.backend, images) if self.flip else self.backend(images)

    def embed(
        self, images: torch.Tensor | Sequence[ImageInput] | ImageInput, batch_size: int = 64
    ) -> torch.Tensor:
        """Re-ID features (N, feat_dim), float32 on CPU, for images in any accepted form.

        ``images`` is a normalised NCHW float tensor, or PIL images / file paths / HxWx3 uint8
        numpy arrays in RGB order (one or a sequence; an OpenCV frame is BGR, so pass
        ``frame[..., ::-1]``), which are resized and normalised the way the model was trained.
        """
        if batch_size < 1:
            raise InputError(f"embed: batch_size must be >= 1, got {batch_size}")
        if isinstance(images, (str, Path, Image.Image)) or (
            isinstance(images, np.ndarray) and images.ndim == 3
        ):
            images = [images]
        if isinstance(images, torch.Tensor):
            chunks = [
                self.embed_batch(images[i : i + batch_size])
                for i in range(0, images.shape[0], batch_size)
            ]
        else:
            items = list(images)
            chunks = [
                self.embed_batch(
                    torch.stack([self.preprocess(x) for x in items[i : i + batch_size]])
                )
                for i in range(0, len(items), batch_size)
            ]
        if not chunks:
            return torch.empty(0, self.feat_dim)
        return torch.cat(chunks)


def load(
    path: str | Path, device: str | torch.device = "auto", flip: bool | None = None
) -> ReIDModel:
    """Load a run folder (its ``model.pt``), a model file, or an ``.onnx`` from ``dgreid export``.

    ``device`` (auto | cpu | cuda | cuda:N) applies to PyTorch models; ONNX runs on the CPU.
    ``flip`` averages each feature with its mirror image's; by default the model embeds as its
    run was evaluated (``eval.flip``, recorded in the model file)."""
    path = Path(path)
    if path.is_dir():
        model_file = path / "model.pt"
        if not model_file.is_file():
            found = sorted(p.name for p in path.iterdir())[:10]
            raise CheckpointError(
                f"{path}: run folder has no model.pt (training not finished?); found: "
                f"{', '.join(found) or 'nothing'}"
            )
        path = model_file
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file or run folder")
    if path.suffix.lower() == ".onnx":
        backend = OnnxBackend(path)
        meta = onnx_meta(path, backend.session.get_modelmeta().custom_metadata_map)
        return ReIDModel(backend, meta, str(path), flip)
    dev = resolve_device(device)
    loaded = load_model_file(path, device=dev)
    return ReIDModel(TorchBackend(loaded.method, dev), loaded.meta, str(path), flip)
