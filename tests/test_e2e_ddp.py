"""``torchrun --nproc_per_node=2 -m dgreid train`` of the episodic method on CPU (gloo), end to end
(issue 10): stage 1 and stage 2 under DDP, the ranks hold identical weights after every training,
and rank 0 alone writes one set of outputs and evaluates once.

The launched entry point is the CLI's ``main`` behind a small shim (written by the test) that saves
each rank's weights after every ``Trainer.train``, so the test can compare the ranks without the
library writing anything extra. tests/test_ddp.py checks the trainer alone against a one-process
run; with BatchNorm each rank normalises its own half-batch, so here only the ranks are compared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from conftest import CONFIGS, TINY_OVERRIDES
from dgreid.engine.metrics_log import read_metrics

SHIM = """
import os, sys
from pathlib import Path
import torch
from dgreid.engine.trainer import Trainer
from dgreid.cli.main import main

weights = Path(sys.argv.pop(1))
original = Trainer.train

def train(self, resume=False):
    summary = original(self, resume)
    state = {k: v.detach().cpu().clone() for k, v in self.method.state_dict().items()}
    name = self.name.replace(" ", "_")
    torch.save(state, weights / f"{name}.rank{os.environ['RANK']}.pt")
    return summary

Trainer.train = train
raise SystemExit(main())
"""

STAGES = ["stage1_synth-market", "stage1_synth-duke", "stage1_synth-cuhk02", "stage1_synth-cuhk03"]


def test_torchrun_two_gloo_ranks_episodic(tiny_benchmark: Path, tmp_path: Path) -> None:
    shim, weights, out = tmp_path / "shim.py", tmp_path / "weights", tmp_path / "run"
    shim.write_text(SHIM)
    weights.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += [str(shim), str(weights), "train", str(CONFIGS / "synthetic" / "episodic.yaml")]
    # batch 16 = 4 ids x 4 images: 2 whole ids per rank
    cmd += [*TINY_OVERRIDES, f"data.root={tiny_benchmark}", f"output_dir={out}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]

    # every training ran on 2 processes, and both ranks ended with the same weights
    log = (out / "train.log").read_text()
    for stage in [*STAGES, "train_episodic"]:
        w0 = torch.load(weights / f"{stage}.rank0.pt", weights_only=True)
        w1 = torch.load(weights / f"{stage}.rank1.pt", weights_only=True)
        assert w0.keys() == w1.keys()
        for k in w0:
            assert torch.equal(w0[k], w1[k]), f"{stage}: ranks disagree on {k}"
        assert log.count(f"{stage.replace('_', ' ')}: ") == 1
    assert log.count("batch 16 on 2 process(es)") == 6  # stage 0, four F_i, stage 2

    # one set of outputs, written by rank 0: each iteration logged once, one evaluation
    for name in ("model.pt", "results.json", "splits.json", "config.yaml"):
        assert (out / name).is_file(), name
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r] == [1, 2]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.pt"]
    stage1 = sorted((out / "stage1").iterdir())
    assert len(stage1) == 5  # four domains and their shared stage-0 start
    for folder in stage1:
        assert (folder / "extractor.pt").is_file()
        steps = [r["step"] for r in read_metrics(folder / "metrics.jsonl") if "loss" in r]
        assert steps == [1, 2], folder.name
    assert proc.stderr.count("DG evaluation on unseen targets (episodic)") == 1  # logged tables
    assert proc.stderr.count("Seen source domains") == 1
    assert proc.stdout.count("run folder:") == 1
