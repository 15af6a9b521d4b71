"""The GPU path, end to end: CUDA training of configs/paper's Baseline and `episodic`, AMP,
channels-last, DDP under torchrun, evaluation on the device; one table of what it measured.

Renders a small synthetic root at the paper's input size (256x128: three sources, one target),
then trains each method for 200 iterations (each stage of `episodic` too) through the real
command line (`python -m dgreid train`) with
`train.amp=none|bf16|fp16` and `model.channels_last=true`, and once more under
`torchrun --nproc_per_node=N` (nccl on CUDA, gloo on CPU; N = the GPUs present, at least 1),
evaluates the fp32 run of each method on the device (`dgreid eval RUN --device cuda`: 10-split
protocol at 2 splits, process start included), and prints per setting: training images/s
(global, the mean of the logged windows after the first), peak GPU memory (rank 0), the
evaluation's wall time, the last logged loss, rank-1 (from the training run's own protocol), and
whether loss and rank-1 match the fp32 run of the same method within the tolerance (loss within
15 % relative, rank-1 within 5 points: a few hundred iterations in mixed precision drift, they do
not break). Weights are `auto` as in configs/paper, so the networks start from scratch when no
ImageNet file is present.

    .venv/bin/python bench/gpu_check.py                  # on a CUDA machine (a few minutes)
    .venv/bin/python bench/gpu_check.py --cpu-dry-run    # three iterations per run at 64x32, CPU

The dry run (the test suite runs it) uses the same commands at 64x32, batch 16, with
`model.pretrained=none` (at 32x16 the DualNorm F's last InstanceNorms see 2x1 maps and
`episodic`'s stage 0 diverges at the paper's learning rate by its second iteration); it skips
fp16 (CUDA only), runs the torchrun row with one gloo process, and trains `episodic` once (fp32):
its AMP, channels-last and DDP paths are the Baseline's. Exit status: 0 when every run finished,
1 when one failed (its log is named), 2 without CUDA (and without --cpu-dry-run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = ["synth-market", "synth-duke", "synth-cuhk03"]
TARGET = "synth-viper"
LOSS_TOL = 0.15  # relative, against the fp32 run of the same method
RANK1_TOL = 5.0  # points of rank-1 %, against the fp32 run of the same method


@dataclass
class Row:
    """One training run's measured figures (None where not measured)."""

    method: str
    setting: str
    images_per_s: float | None = None
    gpu_mem_gib: float | None = None
    eval_s: float | None = None
    loss: float | None = None
    rank1: float | None = None
    error: str = ""


def _run(cmd: list[str], log: Path, env: dict[str, str]) -> tuple[int, float]:
    """Run ``cmd`` with its output in ``log``; its exit status and wall seconds."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    return rc, time.perf_counter() - t0


def _read_run(run: Path, row: Row) -> None:
    """Fill ``row`` from the run folder's metrics.jsonl (main run only) and results.json."""
    from dgreid.engine.metrics_log import read_metrics

    steps = [r for r in read_metrics(run / "metrics.jsonl") if "images_per_s" in r]
    if steps:
        timed = steps[1:] or steps  # the first window holds the start-up
        row.images_per_s = sum(r["images_per_s"] for r in timed) / len(timed)
        row.loss = float(steps[-1]["loss"])
        mem = [r["gpu_mem_gib"] for r in steps if "gpu_mem_gib" in r]
        row.gpu_mem_gib = max(mem) if mem else None
    results = json.loads((run / "results.json").read_text())
    row.rank1 = 100.0 * results["average"]["rank1"]


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _matches(row: Row, ref: Row | None) -> str:
    if row.error:
        return "FAILED"
    if ref is row:
        return "(reference)"
    if ref is None or None in (ref.loss, row.loss, ref.rank1, row.rank1):
        return "-"
    ok_loss = abs(row.loss - ref.loss) <= LOSS_TOL * max(abs(ref.loss), 1e-6)
    ok_r1 = abs(row.rank1 - ref.rank1) <= RANK1_TOL
    if ok_loss and ok_r1:
        return "yes"
    return f"no (loss {'ok' if ok_loss else 'off'}, rank-1 {'ok' if ok_r1 else 'off'})"


def table(rows: list[Row]) -> str:
    """The printed table: one line per run, fp32 of the same method as the reference."""
    head = (
        "| method | setting | train images/s | peak GPU GiB | eval s | last loss | rank-1 % "
        "| matches fp32 |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in rows:
        ref = next((x for x in rows if x.method == r.method and x.setting == "fp32"), None)
        lines.append(
            f"| {r.method} | {r.setting} | {_fmt(r.images_per_s, '.1f')} | "
            f"{_fmt(r.gpu_mem_gib, '.2f')} | {_fmt(r.eval_s, '.1f')} | {_fmt(r.loss, '.3f')} | "
            f"{_fmt(r.rank1, '.1f')} | {_matches(r, ref)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpu-dry-run", action="store_true", help="a few iterations at 64x32 on CPU")
    ap.add_argument("--iters", type=int, default=0, help="iterations per run (default 200; dry 3)")
    ap.add_argument("--nproc", type=int, default=0, help="torchrun processes (default: the GPUs)")
    ap.add_argument("--methods", nargs="+", default=["baseline", "episodic"])
    ap.add_argument("--out", default="", help="work folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)

    import torch  # after argparse: --help stays fast

    dry = args.cpu_dry_run
    if not dry and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; use --cpu-dry-run to check the script on CPU")
        return 2
    device = "cpu" if dry else "cuda"
    iters = args.iters or (3 if dry else 200)
    nproc = args.nproc or (1 if dry else max(torch.cuda.device_count(), 1))
    h, w = (64, 32) if dry else (256, 128)
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gpu_check-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    py = sys.executable

    root = work / "synth"
    if not (root / "synth.json").exists():
        rc, _ = _run(
            [py, "-m", "dgreid", "synth", "--out", str(root), "--size", f"{h}x{w}", "--quiet",
             "--scale", "0.1" if dry else "0.5", "--workers", str(min(os.cpu_count() or 1, 16)),
             "--domains", *SOURCES, TARGET],
            work / "synth.log", env,
        )  # fmt: skip
        if rc != 0:
            print(f"gpu_check: rendering the synthetic root failed; see {work / 'synth.log'}")
            return 1
    common = [
        f"data.root={root}", f"data.sources=[{','.join(SOURCES)}]", f"data.targets=[{TARGET}]",
        f"data.height={h}", f"data.width={w}", "train.epochs=1", f"train.iters_per_epoch={iters}",
        f"train.log_every={max(iters // 10, 1)}", "model.channels_last=true",
        "eval.num_splits=2", f"train.device={device}",
    ]  # fmt: skip
    if dry:
        common += ["model.pretrained=none", "data.batch_size=16", "data.workers=0",
                   "model.embed_dim=32", "eval.batch_size=16"]  # fmt: skip
    else:
        common += ["data.workers=8"]
    amps = ["none", "bf16"] + ([] if dry else ["fp16"])
    settings = [(a, "fp32" if a == "none" else a, False) for a in amps] + [
        ("none", f"torchrun x{nproc}", True)
    ]

    rows: list[Row] = []
    for method in args.methods:
        # the dry run trains the episodic method once: every path it adds is the Baseline's
        for amp, name, ddp in settings[:1] if dry and method != "baseline" else settings:
            tag = f"{method}-{name.replace(' ', '')}"
            run = work / "runs" / tag
            shutil.rmtree(run, ignore_errors=True)
            cfg = str(REPO / "configs" / "paper" / f"{method}.yaml")
            launch = (
                [py, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
                if ddp
                else [py]
            )
            cmd = [*launch, "-m", "dgreid", "train", cfg, *common, f"train.amp={amp}",
                   f"output_dir={run}"]  # fmt: skip
            row = Row(method, name)
            rc, _ = _run(cmd, work / f"{tag}.log", env)
            if rc != 0:
                row.error = str(work / f"{tag}.log")
            else:
                _read_run(run, row)
                if name == "fp32":  # evaluation runs in fp32 whatever the training's precision
                    rc, row.eval_s = _run(
                        [py, "-m", "dgreid", "eval", str(run), "--device", device],
                        work / f"{tag}-eval.log", env,
                    )  # fmt: skip
                    if rc != 0:
                        row.error = str(work / f"{tag}-eval.log")
            rows.append(row)
            print(f"gpu_check: {tag} {'FAILED' if row.error else 'done'}", flush=True)

    gpu = "CPU (dry run)" if dry else torch.cuda.get_device_name(0)
    print(f"\n{gpu}, {h}x{w}, {iters} iterations per run, torch {torch.__version__}\n")
    print(table(rows))
    failed = [r.error for r in rows if r.error]
    for log in failed:
        print(f"gpu_check: a run failed; its log: {log}")
    if not args.out and not failed:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
