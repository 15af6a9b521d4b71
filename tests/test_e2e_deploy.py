"""The practitioner's chain (issue 9) on a really trained run folder: the episodic run of
conftest.py (stage-1 extractors, then F + E), not the hand-made model file of the unit tests
(tests/test_deploy_*.py cover each command's options and errors).

extract -> search (exact, faiss built then reused, HTML) -> export ONNX -> ``dgreid.load`` of the
ONNX file -> search with it: every step through the CLI, every result checked against the
PyTorch model's own features.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dgreid
from dgreid.cli.main import main
from dgreid.deploy.features import load_features

TOPK = 5


def _ranked(path: Path) -> dict[str, list[str]]:
    """query -> gallery paths, nearest first, from a ranking CSV or JSON file."""
    if path.suffix == ".json":
        results = json.loads(path.read_text())["results"]
        return {r["query"]: [m["gallery"] for m in r["ranked"]] for r in results}
    out: dict[str, list[str]] = {}
    for row in csv.DictReader(path.open()):
        out.setdefault(row["query"], []).append(row["gallery"])
    return out


def test_extract_search_export_reload(
    episodic_run: Path,
    tiny_benchmark: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    query_dir = tiny_benchmark / "synth-viper" / "cam_a"
    gallery_dir = tiny_benchmark / "synth-viper" / "cam_b"
    run = str(episodic_run)
    model = dgreid.load(episodic_run, device="cpu")
    assert model.method == "episodic" and model.input_size == (32, 16)

    # extract: every gallery crop, the same features as the Python API gives
    g_npz = tmp_path / "gallery.npz"
    extract = ["extract", run, str(gallery_dir), "--out", str(g_npz), "--workers", "0"]
    assert main([*extract, "--device", "cpu", "--no-progress"]) == 0
    gallery = load_features(g_npz)
    n_gallery = len(list(gallery_dir.iterdir()))
    assert gallery.features.shape == (n_gallery, model.feat_dim)
    paths = [gallery.abspath(i) for i in range(len(gallery))]
    reference = model.embed(paths)
    assert np.allclose(gallery.features, reference.numpy(), atol=1e-5)

    # search, exact: the brute-force ranking of the model's features, with HTML pages
    search = ["search", run, "--query", str(query_dir), "--gallery", str(g_npz)]
    search += ["--topk", str(TOPK), "--workers", "0", "--device", "cpu"]
    html = tmp_path / "ranked.html"
    assert main([*search, "--out", str(tmp_path / "exact.json"), "--html", str(html)]) == 0
    exact = _ranked(tmp_path / "exact.json")
    queries = sorted(query_dir.iterdir())
    assert sorted(exact) == [q.name for q in queries]
    dist = torch.cdist(model.embed(queries), reference)
    for i, q in enumerate(queries):
        expected = [Path(paths[j]).name for j in dist[i].argsort()[:TOPK].tolist()]
        assert exact[q.name] == expected, q.name
    assert html.is_file() and "<img" in (tmp_path / "ranked_files" / "page_1.html").read_text()

    # search, faiss: the index is built once, saved, reused; same ranking as exact
    faiss_args = [*search, "--index", "faiss", "--out", str(tmp_path / "faiss.csv")]
    capsys.readouterr()
    assert main(faiss_args) == 0
    assert "built and saved to" in capsys.readouterr().out
    assert main(faiss_args) == 0
    assert "reused from" in capsys.readouterr().out
    assert _ranked(tmp_path / "faiss.csv") == exact

    # export: verified by the command itself, then the ONNX model embeds like the run folder
    onnx_path = tmp_path / "model.onnx"
    assert main(["export", run, "--onnx", str(onnx_path)]) == 0
    diff = float(capsys.readouterr().out.rsplit("max abs diff ", 1)[1].split()[0])
    assert diff < 1e-4
    exported = dgreid.load(onnx_path)
    assert exported.method == "episodic" and exported.feat_dim == model.feat_dim
    assert torch.allclose(exported.embed(paths), reference, atol=1e-4)

    # the exported model searches raw image folders with the same result
    onnx_search = ["search", str(onnx_path), "--query", str(query_dir)]
    onnx_search += ["--gallery", str(gallery_dir), "--topk", str(TOPK), "--workers", "0"]
    assert main([*onnx_search, "--out", str(tmp_path / "onnx.json")]) == 0
    assert _ranked(tmp_path / "onnx.json") == exact
