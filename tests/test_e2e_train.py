"""``dgreid train`` / ``dgreid eval`` end to end on the tiny synthetic benchmark (issue 6).

Every method's two-iteration run is test_configs.py's parametrized smoke test (one per
configs/synthetic/ file); here: stage-1 reuse, re-evaluation, resume and the errors a user meets.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from conftest import CONFIGS, TINY_OVERRIDES, tiny_config
from dgreid.cli.main import main
from dgreid.config import ConfigError
from dgreid.engine.metrics_log import read_metrics
from dgreid.experiments.train_run import run_training

BASELINE = str(CONFIGS / "synthetic" / "baseline.yaml")
EPISODIC = str(CONFIGS / "synthetic" / "episodic.yaml")


def _cli_overrides(root: Path, out: Path, *extra: str) -> list[str]:
    return [*TINY_OVERRIDES, f"data.root={root}", f"output_dir={out}", *extra]


def _rank1(path: Path) -> dict[str, float]:
    data = json.loads(path.read_text())
    per_target = {t: r["mean"]["rank1"] for t, r in data["targets"].items()}
    return {**per_target, "average": data["average"]["rank1"]}


def _map(path: Path) -> dict[str, float]:
    return {t: r["mean"]["mAP"] for t, r in json.loads(path.read_text())["targets"].items()}


def test_stage1_extractors_reused(
    episodic_run: Path, tiny_benchmark: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A second run pointed at trained extractors loads them and trains none."""
    weights = sorted((episodic_run / "stage1").glob("*/extractor.pt"))
    # four domains, plus the stage-0 network they all started from (no ImageNet weights)
    assert len(weights) == 5 and len([p for p in weights if "stage0-" in str(p)]) == 1
    before = {p: p.stat().st_mtime_ns for p in weights}
    caplog.set_level(logging.INFO, logger="dgreid")
    out = tmp_path / "again"
    stage1 = f"method.stage1_dir={episodic_run / 'stage1'}"
    run_training(tiny_config("episodic", tiny_benchmark, out, stage1))

    reused = [r.getMessage() for r in caplog.records if "stage 1: reusing" in r.getMessage()]
    assert len(reused) == 5
    assert not [r for r in caplog.records if r.getMessage().startswith("stage1 ")]
    assert {p: p.stat().st_mtime_ns for p in weights} == before
    assert not (out / "stage1").exists()
    assert (out / "model.pt").is_file() and (out / "results.json").is_file()


def test_eval_reproduces_results(
    episodic_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``dgreid eval RUN`` gives the run's own rank-1, on its saved splits and on the splits
    redrawn from its saved config (seed and eval.num_test_ids)."""
    expected = _rank1(episodic_run / "results.json")
    saved = ["--splits", str(episodic_run / "splits.json")]
    for name, extra in (("saved", saved), ("redrawn", [])):
        out = tmp_path / name
        assert main(["eval", str(episodic_run), "--out", str(out), "--device", "cpu", *extra]) == 0
        assert _rank1(out / "results.json") == pytest.approx(expected, abs=1e-6), name
    assert "DG evaluation on unseen targets (episodic)" in capsys.readouterr().out
    # --flip evaluates the mean of each image's and its mirror's features: other scores
    assert main(["eval", str(episodic_run), "--out", str(tmp_path / "flip"), "--flip"]) == 0
    flipped, plain = (_map(tmp_path / name / "results.json") for name in ("flip", "saved"))
    assert flipped != pytest.approx(plain, abs=1e-6)


def test_eval_rerank(
    episodic_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``dgreid eval --rerank`` ranks the same splits by re-ranked distances and says so;
    ``--no-rerank`` (like the run's default) gives the run's own numbers."""
    saved = ["--splits", str(episodic_run / "splits.json"), "--device", "cpu"]
    assert main(["eval", str(episodic_run), "--rerank", "--out", str(tmp_path / "rr"), *saved]) == 0
    assert "distances k-reciprocal re-ranked (k1=20, k2=6, lambda=0.3)" in capsys.readouterr().out
    data = json.loads((tmp_path / "rr" / "results.json").read_text())
    assert data["rerank"] == {"k1": 20, "k2": 6, "lambda_value": 0.3}
    plain = json.loads((episodic_run / "results.json").read_text())
    assert plain["rerank"] is None
    for name, target in data["targets"].items():  # the same splits, other distances
        for got, was in zip(target["splits"], plain["targets"][name]["splits"]):
            assert (got["num_query"], got["num_gallery"]) == (was["num_query"], was["num_gallery"])
            assert 0.0 <= got["mAP"] <= 1.0
    assert any(
        got["cmc"] != was["cmc"]
        for name, target in data["targets"].items()
        for got, was in zip(target["splits"], plain["targets"][name]["splits"])
    )
    assert (
        main(["eval", str(episodic_run), "--no-rerank", "--out", str(tmp_path / "no"), *saved]) == 0
    )
    assert _rank1(tmp_path / "no" / "results.json") == _rank1(episodic_run / "results.json")


def test_eval_on_a_target_the_saved_splits_lack(
    episodic_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A model whose config names a splits file (as demo and compare runs do) is evaluated on
    a target that file lacks: that target gets seeded splits; ``--splits ''`` ignores the file."""
    from dgreid.deploy.model_file import read_model_file
    from dgreid.utils.io import atomic_torch_save

    saved = json.loads((episodic_run / "splits.json").read_text())
    saved["targets"] = {"synth-grid": saved["targets"]["synth-grid"]}
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(saved))
    model = read_model_file(episodic_run / "model.pt")
    model["config"]["eval"]["splits_file"] = str(partial)
    atomic_torch_save(tmp_path / "model.pt", model)
    caplog.set_level(logging.INFO, logger="dgreid")
    expected = _rank1(episodic_run / "results.json")
    for name, extra in (("file", []), ("none", ["--splits", ""])):
        out = tmp_path / name
        argv = ["eval", str(tmp_path / "model.pt"), "--out", str(out), "--device", "cpu"]
        assert main([*argv, "--targets", "synth-grid", "synth-viper", *extra]) == 0
        got = _rank1(out / "results.json")
        for target in ("synth-grid", "synth-viper"):  # the run's splits were drawn the same way
            assert got[target] == pytest.approx(expected[target], abs=1e-6), (name, target)
    logs = [r.getMessage() for r in caplog.records]
    assert sum("not in " in m and "synth-viper" in m for m in logs) == 1
    assert sum(m.startswith("evaluating on the saved splits") for m in logs) == 1


def test_eval_on_a_source_labels_it_seen(
    episodic_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``dgreid eval --targets`` with one of the model's sources scores it, labelled as a
    source domain, never as an unseen target."""
    argv = ["eval", str(episodic_run), "--device", "cpu", "--targets", "synth-viper", "synth-duke"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "unseen targets" not in out
    assert "Evaluation (episodic; synth-duke: source domain, not unseen)" in out
    assert "synth-duke: source domain(s) of this model" in err


def test_cli_train_then_resume_finished_run(
    tiny_benchmark: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--resume`` of a finished run trains nothing more and evaluates again; a plain re-run
    of the same folder is refused with a message naming both ways out."""
    out = tmp_path / "run"
    args = ["train", BASELINE, *_cli_overrides(tiny_benchmark, out)]
    assert main(args) == 0
    ckpt = out / "checkpoints" / "last.pt"
    state = ckpt.read_bytes()
    first = _rank1(out / "results.json")
    env = json.loads((out / "environment.json").read_text())
    assert env["torch"] == torch.__version__ and env["device"] == "cpu"
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()

    assert main([*args, "--resume"]) == 0
    assert json.loads((out / "environment.json").read_text()) == env
    assert ckpt.read_bytes() == state  # no further step was taken
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r] == [1, 2]
    assert _rank1(out / "results.json") == pytest.approx(first, abs=1e-6)
    assert f"run folder: {out}" in capsys.readouterr().out
    log_lines = (out / "train.log").read_text().splitlines()
    tables = [i for i, line in enumerate(log_lines) if "DG evaluation on unseen targets" in line]
    assert len(tables) == 2  # the run's results, and the resumed run's
    assert any("synth-viper" in line for line in log_lines[tables[-1] :])

    assert main(args) == 1
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err


def test_a_copied_run_folder_resumes_at_its_new_place(
    tiny_benchmark: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The saved config and checkpoint name the old output_dir: the new place wins."""
    import shutil

    first = tmp_path / "run"
    assert main(["train", BASELINE, *_cli_overrides(tiny_benchmark, first), "--no-eval"]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    state = (copy / "checkpoints" / "last.pt").read_bytes()
    args = ["train", BASELINE, *_cli_overrides(tiny_benchmark, copy), "--no-eval", "--resume"]
    assert main(args) == 0, capsys.readouterr().err
    assert (copy / "checkpoints" / "last.pt").read_bytes() == state  # nothing more to train
    assert f"output_dir: {copy}" in (copy / "config.yaml").read_text()
    assert f"run folder: {copy}" in capsys.readouterr().out
    # another key still refuses, and the advice keeps the run
    assert main([*args, "train.lr=0.5"]) == 1
    err = capsys.readouterr().err
    assert "train.lr" in err and "output_dir" not in err


def test_episodic_needs_three_sources(
    tiny_benchmark: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two sources: a config error (exit 2) before anything is written."""
    out = tmp_path / "run"
    two = "data.sources=[synth-market, synth-duke]"
    assert main(["train", EPISODIC, *_cli_overrides(tiny_benchmark, out, two)]) == 2
    err = capsys.readouterr().err
    assert "at least 3 source domains" in err and "synth-market, synth-duke" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "bad, named, hint",
    [
        ("trian.max_iters=2", "trian", "train."),
        ("train.max_itres=2", "train.max_itres", "max_iters"),
    ],
)
def test_config_typo_exits_2(
    bad: str, named: str, hint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped key, in an override or in a YAML file, stops ``dgreid train`` with exit
    status 2 before anything is written, naming the key and a close valid one."""
    out = tmp_path / "run"
    assert main(["train", BASELINE, bad, f"output_dir={out}"]) == 2
    err = capsys.readouterr().err
    assert "config error" in err and f"unknown key {named} " in err
    assert "did you mean" in err and hint in err.split("did you mean")[1]
    section, key = bad.split("=")[0].split(".")
    yaml_file = tmp_path / "typo.yaml"
    yaml_file.write_text(f"base: {CONFIGS / 'synthetic' / 'base.yaml'}\n{section}:\n  {key}: 2\n")
    assert main(["train", str(yaml_file), f"output_dir={out}"]) == 2
    err = capsys.readouterr().err
    assert f"unknown key {named} " in err and str(yaml_file) in err
    assert not out.exists()


def test_eval_every_evaluates_the_targets_during_training(
    tiny_benchmark: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train.eval_every=1``: the target protocol after every epoch, its summary in
    metrics.jsonl; the final evaluation (results.json) is the last of them, not a second run."""
    from dgreid.experiments import evaluate

    ranked: list[list[str]] = []
    original = evaluate.run_protocol

    def spy(model: object, targets: dict, **kw: object) -> object:
        ranked.append(sorted(targets))
        return original(model, targets, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluate, "run_protocol", spy)
    out = tmp_path / "run"
    every = ["train.eval_every=1", "train.epochs=2", "train.max_iters=4", "train.lr_steps=[2]"]
    run_training(tiny_config("baseline", tiny_benchmark, out, *every))
    target_runs = [t for t in ranked if not any("held-out" in name for name in t)]
    assert len(target_runs) == 2  # epochs 1 and 2; results.json reuses the second
    evals = [r for r in read_metrics(out / "metrics.jsonl") if "eval" in r]
    assert [(r["step"], r["epoch"]) for r in evals] == [(2, 1), (4, 2)]
    targets = {"synth-grid", "synth-ilids", "synth-prid", "synth-viper"}
    for r in evals:
        assert set(r["eval"]["targets"]) == targets
        assert 0.0 <= r["eval"]["average"]["rank1"] <= 1.0 and "mAP" in r["eval"]["average"]
    final = json.loads((out / "results.json").read_text())
    assert final["average"]["rank1"] == evals[-1]["eval"]["average"]["rank1"]


def test_without_eval_every_the_log_has_no_evaluations(
    tiny_benchmark: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    run_training(tiny_config("baseline", tiny_benchmark, out))
    assert not [r for r in read_metrics(out / "metrics.jsonl") if "eval" in r]
    assert (out / "results.json").is_file()


@pytest.mark.parametrize("f_start", ["shared", "own"])
def test_f_start_shared_starts_f_from_the_stage0_network(
    f_start: str,
    episodic_run: Path,
    tiny_benchmark: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``method.f_start=shared``: F starts as the stage-0 network (F's own architecture, its
    InstanceNorms trained too); ``own``: from F's own initialisation."""
    from dgreid.experiments import train_run
    from dgreid.utils.torch_file import read_state_dict

    started: dict[str, torch.Tensor] = {}

    class Recording(train_run.Trainer):  # type: ignore[misc,valid-type]
        def __init__(self, method, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            started.update({k: v.clone() for k, v in method.backbone.state_dict().items()})
            super().__init__(method, *args, **kwargs)

    monkeypatch.setattr(train_run, "Trainer", Recording)
    stage1 = f"method.stage1_dir={episodic_run / 'stage1'}"
    run_training(
        tiny_config(
            "episodic", tiny_benchmark, tmp_path / "run", stage1, f"method.f_start={f_start}"
        )
    )
    (stage0,) = (episodic_run / "stage1").glob("stage0-*/extractor.pt")  # reused, not retrained
    start = {
        k[len("backbone.") :]: v
        for k, v in read_state_dict(stage0).items()
        if k.startswith("backbone.")
    }
    assert set(start) == set(started)  # stage 0 trained F's architecture, InstanceNorms included
    assert any(k.startswith("post.") for k in start)
    same = [torch.equal(start[k], started[k]) for k in sorted(start) if k.endswith("weight")]
    assert same == [f_start == "shared"] * len(same)


def test_f_start_typo_is_refused_before_stage1(tiny_benchmark: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="method.f_start='shraed'.*expected one of own, shared"):
        run_training(tiny_config("episodic", tiny_benchmark, out, "method.f_start=shraed"))
    assert not out.exists()
