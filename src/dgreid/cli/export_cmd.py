"""``dgreid export MODEL --onnx model.onnx``: ONNX export, verified with onnxruntime."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained model to ONNX (dynamic batch) and verify it",
        description="Export the inference path to ONNX and compare onnxruntime with PyTorch on a "
        "random batch; fails if the max abs difference reaches 1e-4.",
    )
    p.add_argument("model", help="run folder or model.pt")
    p.add_argument("--onnx", required=True, help="output .onnx file")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dgreid.deploy.api import TorchBackend, load
    from dgreid.deploy.export import ExportError, export_onnx

    model = load(args.model, device="cpu")
    if not isinstance(model.backend, TorchBackend):
        raise ExportError(f"{args.model}: already an ONNX model; export needs a model.pt")
    report = export_onnx(model.backend.method, model.meta, args.onnx, opset=args.opset)
    print(
        f"exported {args.onnx} ({report.exporter} exporter, opset {args.opset}); "
        f"onnxruntime vs PyTorch on a batch of {report.batch}: "
        f"max abs diff {report.max_abs_diff:.3g}"
    )
    return 0
