"""Training throughput: the baseline step against the episodic step at equal batch size.

Prints median images/second for one full training iteration (forward, backward, SGD step) of
each, the cost ratio episodic/baseline, and where the episodic step's time goes (frozen F_j, F_k
forwards under no-grad; F forward+backward; the rest: E, C, losses, optimizer).

    .venv/bin/python bench/train_speed.py                    # both settings, CPU
    .venv/bin/python bench/train_speed.py --setting paper --batch 16 --iters 3
    .venv/bin/python bench/train_speed.py --setting cpu --threads 1   # beside a busy process
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from dgreid.engine.threads import set_training_threads
from dgreid.methods import Method, build_method
from dgreid.methods.episodic import EpisodicMethod
from dgreid.models import build_backbone
from dgreid.structures import Batch


@dataclass(frozen=True)
class Setting:
    """Backbones and input size of one comparison."""

    name: str
    baseline_backbone: str
    extractor: str
    backbone: str
    width_mult: float
    height: int
    width: int
    embed_dim: int


SETTINGS = {
    "cpu": Setting("cpu (synthetic, 64x32)", "convnet_small", "convnet_small", "convnet_dualnorm",
                   1.0, 64, 32, 128),
    "cpu-real": Setting("cpu-real (ImageNet MobileNetV2s, 96x48)", "mobilenetv2", "mobilenetv2",
                        "mobilenetv2_dualnorm", 1.0, 96, 48, 256),
    "paper": Setting("paper (256x128)", "resnet50", "resnet50", "mobilenetv2_dualnorm",
                     1.0, 256, 128, 512),
}  # fmt: skip


def make_batch(n: int, h: int, w: int, device: torch.device) -> Batch:
    """A PK batch (K = 4) of one domain with random pixels."""
    return Batch(
        images=torch.randn(n, 3, h, w, device=device),
        pids=(torch.arange(n) // 4).to(device),
        camids=torch.zeros(n, dtype=torch.long, device=device),
        domains=torch.zeros(n, dtype=torch.long, device=device),
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median_seconds(
    fns: list[Callable[[], object]], iters: int, device: torch.device
) -> list[float]:
    """Median seconds per call of each of ``fns``, called in turn (one warm-up round first).

    Interleaving the calls and taking the median keeps other load on a shared machine from
    favouring one of them.
    """
    times: list[list[float]] = [[] for _ in fns]
    for it in range(iters + 1):
        for n, fn in enumerate(fns):
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            if it > 0:
                times[n].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]


def gflops(fn: Callable[[], object]) -> float:
    """Forward GFLOP of one call, counted by torch (immune to other load on the machine).

    Only forwards are counted: torch's counter charges a grouped (depthwise) convolution's
    backward as if it were dense, which would inflate MobileNetV2 ~20x. A trained network's
    forward+backward is taken as 3x its forward (the usual rule).
    """
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def step_fn(method: Method, batch: Batch | Iterator[Batch]) -> Callable[[], object]:
    """One full iteration: train_step, backward, SGD step on the trainable parameters; on
    ``batch``, or on the next batch of ``batch`` when it is an iterator (a data pipeline)."""
    opt = torch.optim.SGD(method.trainable_parameters(), lr=1e-4, momentum=0.9)
    counter = iter(range(10**9))

    def run() -> None:
        opt.zero_grad(set_to_none=True)
        step_batch = batch if isinstance(batch, Batch) else next(batch)
        method.train_step(step_batch, next(counter))["loss"].backward()
        opt.step()

    return run


def build_methods(
    s: Setting, num_classes: int, device: torch.device
) -> tuple[Method, EpisodicMethod]:
    """The setting's baseline and episodic methods (4 source domains), in training mode."""
    torch.manual_seed(0)
    base = build_method("baseline", num_classes=num_classes, backbone=s.baseline_backbone)
    base.to(device).train()
    extractors = [build_backbone(s.extractor) for _ in range(4)]
    epi = build_method(
        "episodic", num_classes=num_classes, extractors=extractors, backbone=s.backbone,
        width_mult=s.width_mult, embed_dim=s.embed_dim,
    )  # fmt: skip
    assert isinstance(epi, EpisodicMethod)
    epi.to(device).train()
    return base, epi


def bench(s: Setting, batch_size: int, iters: int, num_classes: int, device: torch.device) -> None:
    base, epi = build_methods(s, num_classes, device)
    batch = make_batch(batch_size, s.height, s.width, device)
    x = batch.images
    f_j = epi.extractors[1]

    def frozen_pair() -> None:
        with torch.no_grad():
            f_j(x)
            f_j(x)

    def global_fb() -> None:
        epi.zero_grad(set_to_none=True)
        epi.global_feature(x).sum().backward()

    fns = [step_fn(base, batch), step_fn(epi, batch), frozen_pair, global_fb]
    t_base, t_epi, t_frozen, t_f = median_seconds(fns, iters, device)
    g_base = 3 * gflops(lambda: base.classifier(base.backbone(x)))  # type: ignore[operator]
    g_frozen = gflops(frozen_pair)
    g_f = 3 * gflops(lambda: epi.classifier(epi.encoder(epi.global_feature(x))))
    g_epi = g_frozen + g_f
    print(f"== {s.name}: batch {batch_size}, {iters} iterations, device {device}")
    print(f"  baseline ({s.baseline_backbone})            {batch_size / t_base:8.1f} img/s  "
          f"{1000 * t_base:8.1f} ms/iter")  # fmt: skip
    print(f"  episodic (4 x {s.extractor} frozen, F={s.backbone} x{s.width_mult}) "
          f"{batch_size / t_epi:8.1f} img/s  {1000 * t_epi:8.1f} ms/iter")  # fmt: skip
    print(
        f"  cost ratio episodic / baseline: {t_epi / t_base:.2f}x time, "
        f"{g_epi / g_base:.2f}x FLOPs ({g_epi:.1f} / {g_base:.1f} GFLOP per iteration)"
    )
    print(f"  episodic FLOPs: frozen F_j+F_k forward {g_frozen:.1f} GFLOP, "
          f"F forward+backward {g_f:.1f} GFLOP")  # fmt: skip
    rest = t_epi - t_frozen - t_f
    rest_txt = f"{1000 * rest:.1f} ms ({100 * rest / t_epi:.0f}%)" if rest > 0 else "n/a (noise)"
    print(f"  episodic step, parts timed separately: frozen F_j+F_k forward (no grad) "
          f"{1000 * t_frozen:.1f} ms ({100 * t_frozen / t_epi:.0f}%), F forward+backward "
          f"{1000 * t_f:.1f} ms ({100 * t_f / t_epi:.0f}%), "
          f"rest (E, C, losses, SGD) {rest_txt}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", choices=["cpu", "cpu-real", "paper", "both"], default="both")
    ap.add_argument("--batch", type=int, default=32, help="batch size (cpu and cpu-real settings)")
    ap.add_argument("--paper-batch", type=int, default=16, help="batch size (paper setting)")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--num-classes", type=int, default=1000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--threads", type=int, default=0,
        help="torch CPU threads (0 = what dgreid train picks: train.threads=0, data.workers=0)",
    )  # fmt: skip
    args = ap.parse_args()
    threads, why = set_training_threads(args.threads, workers=0)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {threads} CPU threads ({why})")
    if args.setting in ("cpu", "both"):
        bench(SETTINGS["cpu"], args.batch, args.iters, args.num_classes, device)
    if args.setting == "cpu-real":
        bench(SETTINGS["cpu-real"], args.batch, args.iters, args.num_classes, device)
    if args.setting in ("paper", "both"):
        bench(SETTINGS["paper"], args.paper_batch, args.iters, args.num_classes, device)


if __name__ == "__main__":
    main()
