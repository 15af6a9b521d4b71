"""``dgreid extract`` / ``search`` / ``export`` end to end on a tiny model."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dgreid
from dgreid.cli.main import main
from dgreid.deploy.features import load_features
from test_deploy_helpers import H, W, make_run, write_images


def search_folders(tmp: Path, queries: int, gallery: int, *overrides: str) -> Path:
    """``tmp/query`` and ``tmp/gallery`` image folders, and a tiny run ``tmp/run`` trained with
    the config ``overrides``."""
    write_images(tmp / "query", queries, seed=1)
    write_images(tmp / "gallery", gallery, seed=2)
    return make_run(tmp / "run", overrides=list(overrides))


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    run = search_folders(tmp_path, 3, 8)
    return tmp_path, run, tmp_path / "gallery"


def test_extract_skips_corrupt(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    tmp, run, gallery = setup
    (gallery / "a" / "broken.jpg").write_bytes(b"not an image")
    (gallery / "notes.txt").write_text("ignored: not an image suffix")
    out = tmp / "g.npz"
    rc = main(
        ["extract", str(run), str(gallery), "--out", str(out), "--workers", "0", "--no-progress"]
    )
    captured = capsys.readouterr()
    assert rc == 0
    assert "1 files skipped" in captured.out and "broken.jpg" in captured.err
    fs = load_features(out)
    assert len(fs) == 8 and fs.features.shape == (8, dgreid.load(run, "cpu").feat_dim)
    assert "a/img_001.png" in fs.paths and not any("broken" in p for p in fs.paths)
    expected = dgreid.load(run, "cpu").embed([fs.abspath(i) for i in range(8)])
    assert np.allclose(fs.features, expected.numpy(), atol=1e-5)


def test_search_exact_faiss_html(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    tmp, run, gallery = setup
    assert (
        main(
            [
                "extract",
                str(run),
                str(gallery),
                "--out",
                str(tmp / "g.npz"),
                "--workers",
                "0",
                "--no-progress",
            ]
        )
        == 0
    )
    base = [
        "search",
        str(run),
        "--query",
        str(tmp / "query"),
        "--gallery",
        str(tmp / "g.npz"),
        "--topk",
        "4",
        "--workers",
        "0",
    ]
    assert main([*base, "--out", str(tmp / "exact.json"), "--html", str(tmp / "r.html")]) == 0
    exact = json.loads((tmp / "exact.json").read_text())["results"]
    assert len(exact) == 3 and all(len(r["ranked"]) == 4 for r in exact)
    assert (tmp / "r.html").is_file() and (tmp / "r_files" / "page_1.html").is_file()
    assert str(tmp) not in (tmp / "r_files" / "page_1.html").read_text()  # relative links
    html_args = ["--html", str(tmp / "a.html"), "--html-absolute-links"]
    assert main([*base, "--out", str(tmp / "a.json"), *html_args]) == 0
    assert (
        f'href="{(tmp / "query").resolve().as_uri()}/'
        in (tmp / "a_files" / "page_1.html").read_text()
    )
    capsys.readouterr()
    assert main([*base, "--index", "faiss", "--out", str(tmp / "f.csv")]) == 0
    assert "built and saved" in capsys.readouterr().out
    assert (tmp / "g.flat-euclidean.faiss").is_file()
    assert main([*base, "--index", "faiss", "--out", str(tmp / "f.csv")]) == 0
    assert "reused from" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp / "f.csv").open()))
    assert len(rows) == 12
    for r in exact:
        got = [row["gallery"] for row in rows if row["query"] == r["query"]]
        assert got == [x["gallery"] for x in r["ranked"]]


def test_export_onnx_and_reload(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    tmp, run, gallery = setup
    onnx_path = tmp / "model.onnx"
    assert main(["export", str(run), "--onnx", str(onnx_path)]) == 0
    out = capsys.readouterr().out
    diff = float(out.rsplit("max abs diff ", 1)[1].split()[0])
    assert diff < 1e-4
    ref, exported = dgreid.load(run, "cpu"), dgreid.load(onnx_path)
    assert exported.input_size == (H, W) and exported.feat_dim == ref.feat_dim
    assert exported.method == "baseline"
    x = torch.randn(5, 3, H, W)  # a batch size other than the export example's
    assert torch.allclose(exported.embed(x), ref.embed(x), atol=1e-4)
    assert (
        main(
            [
                "search",
                str(onnx_path),
                "--query",
                str(tmp / "query"),
                "--gallery",
                str(gallery),
                "--topk",
                "2",
                "--out",
                str(tmp / "o.csv"),
                "--workers",
                "0",
            ]
        )
        == 0
    )
    assert len((tmp / "o.csv").read_text().splitlines()) == 1 + 3 * 2


def test_missing_model_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(
        ["extract", str(tmp_path / "nope.pt"), str(tmp_path), "--out", str(tmp_path / "x.npz")]
    )
    assert rc == 1 and "nope.pt" in capsys.readouterr().err


def test_export_fails_above_tolerance(
    setup: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    tmp, run, _ = setup
    monkeypatch.setattr("dgreid.deploy.export.TOLERANCE", 0.0)  # any difference now fails
    rc = main(["export", str(run), "--onnx", str(tmp / "bad.onnx")])
    assert rc == 1 and "tolerance" in capsys.readouterr().err
    assert not (tmp / "bad.onnx").exists()


def test_faiss_missing_is_a_clear_error(
    setup: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    tmp, run, gallery = setup
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss -> ImportError
    rc = main(
        [
            "search",
            str(run),
            "--query",
            str(tmp / "query"),
            "--gallery",
            str(gallery),
            "--index",
            "faiss",
            "--workers",
            "0",
            "--out",
            str(tmp / "x.csv"),
        ]
    )
    assert rc == 1 and "pip install 'dgreid[faiss]'" in capsys.readouterr().err


def _search(tmp: Path, run: Path, *extra: str, gallery: str = "gallery") -> list[str]:
    return ["search", str(run), "--query", str(tmp / "query"), "--gallery", str(tmp / gallery),
            "--topk", "3", "--workers", "0", "--out", str(tmp / "r.csv"), *extra]  # fmt: skip


def test_search_ranks_with_the_metric_the_model_was_evaluated_with(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from dgreid.deploy.model_file import read_model_file
    from dgreid.utils.io import atomic_torch_save

    cosine = search_folders(tmp_path, 2, 4, "eval.metric=cosine")
    assert dgreid.load(cosine, "cpu").meta.metric == "cosine"
    assert main(_search(tmp_path, cosine)) == 0
    out, err = capsys.readouterr()
    assert "(cosine, exact search)" in out and "does not record" not in err
    assert main(_search(tmp_path, cosine, "--metric", "euclidean")) == 0
    assert "(euclidean, exact search)" in capsys.readouterr().out
    # a model file written before the metric was recorded: euclidean, said once
    old = read_model_file(cosine / "model.pt")
    del old["meta"]["metric"]
    atomic_torch_save(tmp_path / "old.pt", old)
    assert dgreid.load(tmp_path / "old.pt", "cpu").metric == "euclidean"
    assert main(_search(tmp_path, tmp_path / "old.pt")) == 0
    out, err = capsys.readouterr()
    assert "(euclidean, exact search)" in out and err.count("does not record the metric") == 1


def test_faiss_index_of_an_image_folder_is_kept_beside_the_results(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    tmp, run, gallery = setup
    before = sorted(gallery.rglob("*"))
    out = tmp / "results" / "ranked.csv"
    argv = ["search", str(run), "--query", str(tmp / "query"), "--gallery", str(gallery),
            "--index", "faiss", "--workers", "0", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert sorted(gallery.rglob("*")) == before and not list(tmp.glob("*.faiss"))
    assert (out.parent / "gallery.flat-euclidean.faiss").is_file()


@pytest.mark.parametrize(
    "command, flags",
    [
        ("search", ["--topk", "--metric", "--batch-size"]),
        ("extract", ["--batch-size"]),
        ("export", ["--opset"]),
        ("synth", ["--seed"]),
    ],
)
def test_help_says_each_default(
    command: str, flags: list[str], capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in flags:
        after = text.split(flag, 2)[-1][:200]  # the flag's own help, after the usage line
        assert "default" in after, (command, flag)


def test_the_embedding_bar_has_a_label(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp, run, gallery = setup
    monkeypatch.setenv("DGREID_PROGRESS_EVERY", "0")
    rc = main(["extract", str(run), str(gallery), "--out", str(tmp / "g.npz"), "--workers", "0"])
    err = capsys.readouterr().err
    assert rc == 0 and "embedding images: 8/8 img (100%)" in err


def test_extract_and_search_embed_with_the_recorded_flip(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = search_folders(tmp_path, 2, 4, "eval.flip=true")

    def extract(out: str, *extra: str) -> Path:
        args = ["extract", str(run), str(tmp_path / "gallery"), "--out", str(tmp_path / out)]
        assert main([*args, "--workers", "0", "--no-progress", *extra]) == 0
        return tmp_path / out

    flipped, plain = load_features(extract("f.npz")), load_features(extract("p.npz", "--no-flip"))
    assert flipped.meta["flip"] is True and plain.meta["flip"] is False
    images = [flipped.abspath(i) for i in range(len(flipped))]
    assert np.allclose(flipped.features, dgreid.load(run, "cpu").embed(images).numpy(), atol=1e-5)
    assert not np.allclose(flipped.features, plain.features, atol=1e-4)
    capsys.readouterr()
    # a gallery extracted without flip, queries embedded with it: said
    assert main(_search(tmp_path, run, gallery="p.npz")) == 0
    assert "p.npz was extracted with flip=False; this search embeds with flip=True" in (
        capsys.readouterr().err
    )
    assert main(_search(tmp_path, run, gallery="f.npz")) == 0
    assert "extracted with flip" not in capsys.readouterr().err


def test_search_rerank_exact_and_refused_with_an_approximate_index(
    setup: tuple[Path, Path, Path], capsys: pytest.CaptureFixture
) -> None:
    from dgreid.deploy.search import reranked_search

    tmp, run, gallery = setup
    assert main(_search(tmp, run, "--rerank", "--out", str(tmp / "rr.json"))) == 0
    assert "(euclidean, exact search, k-reciprocal re-ranked)" in capsys.readouterr().out
    model = dgreid.load(run, "cpu")
    names = sorted(str(p.relative_to(gallery)) for p in gallery.rglob("*.png"))
    qnames = sorted(str(p.relative_to(tmp / "query")) for p in (tmp / "query").rglob("*.png"))
    want = reranked_search(
        model.embed([tmp / "query" / n for n in qnames]).numpy(),
        model.embed([gallery / n for n in names]).numpy(),
        k=3,
    )
    got = {r["query"]: r["ranked"] for r in json.loads((tmp / "rr.json").read_text())["results"]}
    for qi, qn in enumerate(qnames):
        assert [x["gallery"] for x in got[qn]] == [names[i] for i in want.indices[qi]]
    for index in ("faiss-ivf", "faiss"):
        rc = main(_search(tmp, run, "--rerank", "--index", index))
        err = capsys.readouterr().err
        assert rc == 1 and f"--rerank needs --index exact, not {index}" in err
        assert ("an approximate index gives only" in err) == (index == "faiss-ivf")
    assert not list(tmp.rglob("*.faiss"))  # refused before any index was built
