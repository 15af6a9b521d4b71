"""DDP: 2 gloo processes on CPU train the tiny method; the ranks agree with each other and with a
one-process run of the same global batch, including across a resume in the middle of an epoch.

The tiny method has no BatchNorm: with BN each rank normalises over its own half-batch, so DDP
and one process would differ by design (see docs/training.md, "BatchNorm").
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from dgreid.engine import distributed as D
from dgreid.engine.metrics_log import read_metrics
from test_trainer import fresh, make_trainer, write_tiny_dataset

#: float32 sums of two half-batch gradients vs one full batch differ in rounding only.
ATOL = 1e-5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker(rank: int, port: int, records: list, out: str) -> None:
    """One torchrun-like rank: env vars, train 6 iterations, resume to the full 12."""
    os.environ.update(
        RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    torch.set_num_threads(1)
    D.init_distributed(torch.device("cpu"))
    method = fresh()
    make_trainer(method, records, Path(out), max_iters=6).train()
    summary = make_trainer(method, records, Path(out)).train(resume=True)
    assert summary.resumed_from_step == 6
    torch.save(method.state_dict(), Path(out) / f"rank{rank}.pt")
    D.cleanup()


def test_two_gloo_ranks_match_one_process(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    records = write_tiny_dataset(tmp_path / "data")
    mp.spawn(worker, args=(free_port(), records, str(out)), nprocs=2, join=True)
    w0 = torch.load(out / "rank0.pt", weights_only=True)
    w1 = torch.load(out / "rank1.pt", weights_only=True)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), f"ranks disagree on {k}"

    single = fresh()
    make_trainer(single, records, tmp_path / "single").train()
    diff = max((w0[k] - v).abs().max().item() for k, v in single.state_dict().items())
    print(f"max abs difference DDP vs one process: {diff:.2e}")
    for k, v in single.state_dict().items():
        assert torch.allclose(w0[k], v, atol=ATOL, rtol=0), f"{k}: DDP != one process"
    assert not torch.equal(w0["classifier.weight"], fresh().classifier.weight)  # it trained

    # one writer: every iteration logged exactly once, one checkpoint (and the one before it)
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert steps == list(range(1, 13))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.prev.pt", "last.pt"]
