"""ONNX export of a trained model's inference path (``embed``), verified against PyTorch.

The graph maps ``images`` (N, 3, H, W; normalised as in training; N dynamic) to ``features``
(N, feat_dim). The model's :class:`~dgreid.deploy.model_file.ModelMeta` travels in the ONNX
``metadata_props`` (full JSON under ``dgreid.meta``, plus readable ``input_size``, ``mean``,
``std``, ``feat_dim``, ``method``), so ``dgreid.load`` can use the exported file directly.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dgreid.deploy.api import ONNX_META_KEY
from dgreid.deploy.model_file import ModelMeta
from dgreid.errors import DgreidError
from dgreid.utils.io import atomic_write_bytes

#: Largest accepted |onnxruntime - PyTorch| on the verification batch.
TOLERANCE = 1e-4


class ExportError(DgreidError):
    """The model cannot be exported, or the export does not reproduce PyTorch's features."""


class _Embed(nn.Module):
    """Exposes ``method.embed`` as ``forward`` for the exporter."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.method.embed(images)  # type: ignore[operator,no-any-return]


@dataclass
class ExportReport:
    """What ``export_onnx`` did: exporter used, verification batch size and max abs difference."""

    path: Path
    exporter: str
    batch: int
    max_abs_diff: float


def _to_onnx_bytes(module: nn.Module, example: torch.Tensor, opset: int) -> tuple[bytes, str]:
    """Export with the dynamo exporter, falling back to the TorchScript one if it fails."""
    errors = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prog = torch.onnx.export(
                module,
                (example,),
                None,
                input_names=["images"],
                output_names=["features"],
                dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1)}},
                opset_version=opset,
                dynamo=True,
                verbose=False,
            )
        return prog.model_proto.SerializeToString(), "dynamo"  # type: ignore[union-attr]
    except Exception as e:  # the exporter raises many unrelated types
        errors.append(f"dynamo: {e.__class__.__name__}: {str(e)[:300]}")
    try:
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                buf,  # type: ignore[arg-type]
                input_names=["images"],
                output_names=["features"],
                dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
        return buf.getvalue(), "torchscript"
    except Exception as e:
        errors.append(f"torchscript: {e.__class__.__name__}: {str(e)[:300]}")
    raise ExportError("ONNX export failed with both exporters; " + " | ".join(errors))


def _add_metadata(model_bytes: bytes, meta: ModelMeta) -> bytes:
    import onnx

    proto = onnx.load_from_string(model_bytes)
    props = {
        ONNX_META_KEY: json.dumps(meta.to_dict()),
        "input_size": json.dumps(list(meta.input_size)),
        "mean": json.dumps(list(meta.mean)),
        "std": json.dumps(list(meta.std)),
        "feat_dim": str(meta.feat_dim),
        "method": meta.method,
    }
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "dgreid"
    return bytes(proto.SerializeToString())


def export_onnx(
    method: nn.Module, meta: ModelMeta, out_path: str | Path, opset: int = 18, verify_batch: int = 3
) -> ExportReport:
    """Export ``method.embed`` to ``out_path`` and verify it with onnxruntime.

    The file is written only when the max abs difference on a random batch of ``verify_batch``
    images (a size other than the export example's, to exercise the dynamic axis) is below
    :data:`TOLERANCE`; otherwise :class:`ExportError` is raised.
    """
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise ExportError("export needs onnx and onnxruntime: pip install 'dgreid[onnx]'") from e
    method = method.to("cpu").eval()
    module = _Embed(method).eval()
    h, w = meta.input_size
    gen = torch.Generator().manual_seed(0)
    example = torch.randn(2, 3, h, w, generator=gen)
    with torch.no_grad():
        raw, exporter = _to_onnx_bytes(module, example, opset)
    data = _add_metadata(raw, meta)
    batch = torch.randn(verify_batch, 3, h, w, generator=gen)
    with torch.no_grad():
        expected = module(batch).float().numpy()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0]
    if got.shape != expected.shape:
        raise ExportError(f"ONNX output shape {got.shape} differs from PyTorch's {expected.shape}")
    diff = float(np.max(np.abs(got - expected)))
    if not diff < TOLERANCE:
        raise ExportError(
            f"ONNX output differs from PyTorch by {diff:.3g} (max abs) on a random batch of "
            f"{verify_batch}; tolerance {TOLERANCE:g}. {out_path} was not written"
        )
    atomic_write_bytes(out_path, data)
    return ExportReport(Path(out_path), exporter, verify_batch, diff)
