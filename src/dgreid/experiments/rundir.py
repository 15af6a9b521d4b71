"""The run folder: its layout, and the rules that keep one run from overwriting another.

Layout of ``RUN/``: ``config.yaml`` (resolved config), ``checkpoints/last.pt`` (training state),
``model.pt`` (inference model), ``metrics.jsonl``, ``splits.json``, ``results.json``,
``environment.json`` (torch version, CPU instruction set, threads: what the numbers depend on),
``stage1/<domain>/`` (episodic per-domain extractors).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from dgreid.config import Config, config_to_dict
from dgreid.config.loader import RUN_CONFIG_NAME, config_from_dict, dump_config
from dgreid.engine.checkpoint import resume_diff
from dgreid.errors import DgreidError
from dgreid.utils.io import atomic_write_text

CONFIG_NAME = RUN_CONFIG_NAME


class RunFolderError(DgreidError):
    """A run folder holds another run, or a resumed run's config differs from the saved one."""


def prepare_run_dir(cfg: Config, resume: bool, overwrite: bool) -> Path:
    """Create or reopen ``cfg.output_dir`` and save the resolved config there.

    A folder that already holds a run needs ``resume`` (same config, continue) or ``overwrite``
    (start again, after deleting it). Resuming with a different config is refused with the list
    of differing keys.
    """
    out = Path(cfg.output_dir)
    saved_path = out / CONFIG_NAME
    if saved_path.exists():
        if overwrite:
            shutil.rmtree(out)
        elif resume:
            saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
            # in this version's layout: a run saved before keys were renamed, retired or moved
            # into a method's own settings compares by what it computes
            saved = config_to_dict(config_from_dict(saved, str(saved_path)))
            diff = resume_diff(saved, config_to_dict(cfg))
            if diff:
                raise RunFolderError(
                    f"cannot resume {out}: the config differs from the saved {saved_path}:\n  "
                    + "\n  ".join(diff)
                    + "\nresume with the saved values of these keys, start a new run in another "
                    "folder, or pass --overwrite to discard this one"
                )
        else:
            raise RunFolderError(
                f"{out} already holds a run ({saved_path} exists); pass --resume to continue it "
                "or --overwrite to start again, or choose another output_dir"
            )
    elif resume and not (out / "checkpoints").exists():
        raise RunFolderError(f"cannot resume: no run in {out} ({saved_path} not found)")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved_path, dump_config(cfg))
    return out
