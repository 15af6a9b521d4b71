"""The run folder: its layout, and the rules that keep one run from overwriting another.

Layout of ``RUN/``: ``config.yaml`` (resolved config), ``checkpoints/last.pt`` (training
state; ``last.prev.pt`` the one before it), ``model.pt`` (inference model), ``metrics.jsonl``,
``splits.json``, ``results.json``, ``train.log``, ``environment.json`` (torch version, CPU
instruction set, threads: what the numbers depend on), ``report.html`` and ``curves.png`` (the
results and the training curves), ``tensorboard/`` (with ``train.tensorboard``),
``stage1/<domain>/`` (episodic per-domain extractors).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from dgreid.config import Config, config_to_dict
from dgreid.config.loader import RUN_CONFIG_NAME, dump_config, read_saved_config
from dgreid.engine.checkpoint_file import resume_diff
from dgreid.errors import DgreidError
from dgreid.utils.io import atomic_write_text

log = logging.getLogger(__name__)

CONFIG_NAME = RUN_CONFIG_NAME
RESULTS_NAME = "results.json"


class RunFolderError(DgreidError):
    """A run folder holds another run, or a resumed run's config differs from the saved one."""


#: What a folder holds, beside its config.yaml, once a run has started in it (a run that
#: failed before its first checkpoint leaves train.log).
RUN_MARKERS = ("train.log", "checkpoints", "model.pt", "metrics.jsonl")


def is_run_folder(folder: Path) -> bool:
    """``folder`` holds a run (finished or not): its saved config and a :data:`RUN_MARKERS`
    entry. A stage-1 network's folder (``stage1/<domain>-<key>/``) has no config of its own."""
    return (folder / CONFIG_NAME).is_file() and any((folder / m).exists() for m in RUN_MARKERS)


def saved_weights(out: Path) -> Path | None:
    """The first checkpoint or model file (``*.pt``) in the run folder ``out``, if any."""
    return next(iter(sorted(out.rglob("*.pt"))), None) if out.is_dir() else None


def prepare_run_dir(cfg: Config, resume: bool, overwrite: bool) -> Path:
    """Create or reopen ``cfg.output_dir`` and save the resolved config there.

    A folder that already holds a run (a checkpoint or a model file) needs ``resume`` (same
    config, continue) or ``overwrite`` (start again, after deleting it). Resuming with a
    different config is refused with the list of differing keys. A folder whose run stopped
    before writing any checkpoint holds nothing to lose: a plain rerun starts it again there.
    """
    out = Path(cfg.output_dir)
    saved_path = out / CONFIG_NAME
    if saved_path.exists():
        if overwrite:
            shutil.rmtree(out)
        elif resume:
            diff = resume_diff(read_saved_config(saved_path), config_to_dict(cfg))
            if diff:
                raise RunFolderError(
                    f"cannot resume {out}: the config differs from the saved {saved_path}:\n  "
                    + "\n  ".join(diff)
                    + "\nresume with the saved values of these keys, start a new run in another "
                    "folder, or pass --overwrite to discard this one"
                )
        elif (held := saved_weights(out)) is not None:
            raise RunFolderError(
                f"{out} already holds a run ({held} exists); pass --resume to continue it "
                "or --overwrite to start again, or choose another output_dir"
            )
        else:
            log.info(
                "%s holds no checkpoint (its run stopped before the first): starting it again", out
            )
    elif resume and not (out / "checkpoints").exists():
        raise RunFolderError(f"cannot resume: no run in {out} ({saved_path} not found)")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved_path, dump_config(cfg))
    return out
