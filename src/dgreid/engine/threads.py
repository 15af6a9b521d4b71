"""How many intra-op CPU threads torch gets in a training run, and why.

torch's default (every physical core of the machine) oversubscribes the CPU as soon as a second
busy process shares it (DataLoader workers, DDP ranks on one machine, another job), and
oversubscribed intra-op threads spin and wait on each other: measured 9x slower than one thread.
:func:`choose_threads` is the rule (pure); :func:`set_training_threads` applies it to this process.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from dgreid.errors import TrainingError


def choose_threads(
    requested: int,
    cpu_count: int,
    local_world_size: int = 1,
    workers: int = 0,
    omp_env: str | None = None,
) -> tuple[int, str]:
    """The number of intra-op threads for one training process, and the reason in words.

    In order: ``requested > 0`` (``train.threads``) is taken as is; else ``OMP_NUM_THREADS``
    when the user set it to a positive integer; else ``cpu_count`` shared between the
    ``local_world_size`` processes of this machine, less one core left to the data workers when
    ``workers > 0``, and at least one. torchrun sets ``OMP_NUM_THREADS=1`` itself when it starts
    several local processes and the variable is unset, so ``1`` there is read as torchrun's
    default, not the user's choice (``train.threads=1`` forces one thread).
    """
    if requested < 0:
        raise TrainingError(f"train.threads must be >= 0 (0 = automatic), got {requested}")
    if requested > 0:
        return requested, f"train.threads={requested}"
    ranks = max(local_world_size, 1)
    omp = _positive_int(omp_env)
    if omp is not None and not (ranks > 1 and omp == 1):
        return omp, f"OMP_NUM_THREADS={omp}"
    cores = max(cpu_count, 1)
    n = cores // ranks
    why = f"automatic: {cores} core{'s' if cores > 1 else ''}"
    if ranks > 1:
        why += f" / {ranks} local processes"
    if workers > 0 and n > 1:
        n -= 1
        why += ", one left for the data workers"
    return max(n, 1), why


def set_training_threads(requested: int, workers: int) -> tuple[int, str]:
    """Apply :func:`choose_threads` to this process (env: LOCAL_WORLD_SIZE, OMP_NUM_THREADS)."""
    n, why = choose_threads(
        requested,
        usable_cores(),
        local_world_size=_positive_int(os.environ.get("LOCAL_WORLD_SIZE")) or 1,
        workers=workers,
        omp_env=os.environ.get("OMP_NUM_THREADS"),
    )
    torch.set_num_threads(n)
    return n, why


def usable_cores() -> int:
    """Physical cores among the CPUs this process may run on, capped by a cgroup CPU quota."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:  # hyper-threads of one core share (package, core id)
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topo / "physical_package_id").read_text(), (topo / "core_id").read_text()))
        except OSError:
            cores.add((str(cpu), "cpu"))
    quota = _cgroup_cpu_quota()
    return max(1, min(len(cores), quota) if quota else len(cores))


def _cgroup_cpu_quota() -> int | None:
    """CPUs allowed by a container's CPU limit (cgroup v2 ``cpu.max`` or v1 CFS), if any."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            v1 = Path("/sys/fs/cgroup/cpu")
            quota = (v1 / "cpu.cfs_quota_us").read_text().strip()
            period = (v1 / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    q, p = _positive_int(quota), _positive_int(period)
    return math.ceil(q / p) if q and p else None


def _positive_int(text: str | None) -> int | None:
    try:
        value = int((text or "").strip())
    except ValueError:
        return None
    return value if value > 0 else None


__all__ = ["choose_threads", "set_training_threads", "usable_cores"]
