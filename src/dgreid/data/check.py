"""Dataset integrity: is each dataset there, laid out as expected, and is every image readable?

``dgreid data check`` prints :func:`format_report` of :func:`check_datasets`; training calls
:func:`require_readable` so a corrupt or truncated image is refused up front with the full list,
never as a stack trace from inside a data loader worker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dgreid.data.datasets import (
    CUSTOM_PREFIX,
    DATASETS,
    DatasetNotFoundError,
    custom_dataset_names,
    get_loader,
)
from dgreid.data.image_dataset import read_image
from dgreid.errors import DatasetError
from dgreid.structures import DISTRACTOR_PID, ImageRecord
from dgreid.utils.progress import Progress, progress_bar

#: How many unreadable files a report or an error lists.
SHOW_UNREADABLE = 20
#: The name that asks for every ``custom:NAME`` folder under the root.
ALL_CUSTOM = CUSTOM_PREFIX + "*"

T = TypeVar("T")


@dataclass
class DatasetStatus:
    """The outcome of checking one dataset. ``state``: found | missing | malformed;
    ``num_images`` counts identity images, distractors are counted apart."""

    name: str
    state: str
    folder: Path | None = None
    num_pids: int = 0
    num_images: int = 0
    num_cams: int = 0
    num_distractors: int = 0
    message: str = ""
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: What the set cannot be used for; ``problem`` when it can serve no role at all.
    limits: list[str] = field(default_factory=list)
    problem: bool = False

    @property
    def ok(self) -> bool:
        return self.state == "found" and not self.unreadable and not self.problem


def usage_limits(records: Sequence[ImageRecord], num_cams: int) -> tuple[list[str], bool]:
    """Why a set of identity ``records`` cannot train or be a target, and whether it can be
    neither: training needs >= 2 ids with >= 2 images each, a target >= 2 ids and >= 2 cameras
    (one to query from, one to search)."""
    per_pid = Counter(r.pid for r in records if r.pid != DISTRACTOR_PID)
    limits = []
    trainable = sum(n >= 2 for n in per_pid.values())
    if trainable < 2:
        limits.append(
            f"cannot train: {trainable} id(s) with >= 2 images (training needs >= 2 such ids)"
        )
    if len(per_pid) < 2 or num_cams < 2:
        limits.append(
            f"cannot be a target: {len(per_pid)} id(s), {num_cams} camera(s) (a target needs "
            ">= 2 ids and >= 2 cameras for probe and gallery)"
        )
    return limits, len(limits) == 2


def distinct_paths(records: Sequence[ImageRecord]) -> list[str]:
    """The image files of ``records``, each once, in order of first appearance."""
    return list(dict.fromkeys(r.path for r in records))


def decode_failure(path: str, error: DatasetError) -> tuple[str, str]:
    """``(path, reason)`` of an image :func:`read_image` refused, the reason without the path."""
    reason = str(error)
    return path, reason[len(path) + 2 :] if reason.startswith(f"{path}: ") else reason


def _decode(path: str) -> tuple[str, str] | None:
    try:
        read_image(path)
    except DatasetError as e:
        return decode_failure(path, e)
    return None


def map_images(
    fn: Callable[[str], T], paths: Sequence[str], workers: int, bar: Progress
) -> Iterator[T]:
    """``fn(path)`` for each of ``paths`` in order, in ``workers`` threads when > 0 (decoding
    releases the GIL); ``bar`` advances by one per path."""
    if workers > 0:
        with ThreadPoolExecutor(max_workers=workers) as ex:
            for res in ex.map(fn, paths):
                bar.update(1)
                yield res
        return
    for path in paths:
        res = fn(path)
        bar.update(1)
        yield res


def verify_images(
    records: Sequence[ImageRecord], workers: int = 0, progress: bool = False, desc: str = "decode"
) -> list[tuple[str, str]]:
    """Decode every distinct image of ``records``; return ``(path, reason)`` for each failure."""
    paths = distinct_paths(records)
    bar = progress_bar(total=len(paths), desc=desc, unit="img", disable=not progress, leave=False)
    with bar:
        return [res for res in map_images(_decode, paths, workers, bar) if res is not None]


def format_unreadable(bad: Sequence[tuple[str, str]], limit: int = SHOW_UNREADABLE) -> str:
    """One line per unreadable image (the first ``limit``), with the count of the rest."""
    lines = [f"  {path}: {reason}" for path, reason in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"  ... and {len(bad) - limit} more")
    return "\n".join(lines)


def require_readable(
    records: Sequence[ImageRecord], workers: int = 0, progress: bool = True
) -> None:
    """Raise :class:`DatasetError` listing every unreadable image of ``records``, if any."""
    bad = verify_images(records, workers=workers, progress=progress, desc="checking images")
    if bad:
        raise unreadable_error(bad)


def unreadable_error(bad: Sequence[tuple[str, str]]) -> DatasetError:
    """The error that refuses a training set with the unreadable images ``bad``."""
    return DatasetError(
        f"{len(bad)} image(s) cannot be decoded; fix or remove them (`dgreid data check` "
        f"lists them too):\n{format_unreadable(bad)}"
    )


def default_names(root: str | Path) -> list[str]:
    """Every registered dataset whose folder exists under ``root``; ``custom`` only for a
    ``ROOT/custom`` folder (its loader would otherwise read ``root`` itself)."""
    present = []
    for name in DATASETS.names():
        if name == "custom":
            folders = Path(root).iterdir() if Path(root).is_dir() else ()
            if any(p.is_dir() and p.name.lower() == "custom" for p in folders):
                present.append(name)
            continue
        try:
            get_loader(name, root).locate()
        except DatasetNotFoundError:
            continue
        except DatasetError:
            if get_loader(name, root).variant_of:
                continue  # e.g. cuhk03-detected beside labeled-only images is not an error
        present.append(name)
    return present


def check_dataset(
    name: str, root: str | Path, decode: bool = True, workers: int = 0, progress: bool = False
) -> DatasetStatus:
    """Load ``name`` under ``root`` and (with ``decode``) decode all of its images."""
    try:
        ds = get_loader(name, root).load()
    except DatasetNotFoundError as e:
        return DatasetStatus(name, "missing", message=str(e))
    except DatasetError as e:
        return DatasetStatus(name, "malformed", message=str(e))
    distractors = sum(r.pid == DISTRACTOR_PID for r in ds.records)
    status = DatasetStatus(
        name,
        "found",
        folder=ds.root,
        num_pids=ds.num_pids,
        num_images=ds.num_images - distractors,
        num_cams=ds.num_cams,
        num_distractors=distractors,
    )
    if name == "custom" or name.startswith(CUSTOM_PREFIX):
        status.limits, status.problem = usage_limits(ds.records, ds.num_cams)
    if decode:
        status.unreadable = verify_images(ds.records, workers, progress, desc=name)
    return status


def check_datasets(
    root: str | Path,
    names: Sequence[str] | None = None,
    decode: bool = True,
    workers: int = 0,
    progress: bool = False,
) -> list[DatasetStatus]:
    """:func:`check_dataset` for each name (default: :func:`default_names`); ``custom:*``
    stands for every ``custom:NAME`` folder under ``root``."""
    chosen = list(names) if names else default_names(root)
    for name in chosen:
        if name != ALL_CUSTOM:
            DATASETS.get(name)  # an unknown name fails before any work, listing valid ones
    statuses = []
    for name in chosen:
        if name != ALL_CUSTOM:
            statuses.append(check_dataset(name, root, decode, workers, progress))
            continue
        found = custom_dataset_names(root)
        if not found:
            msg = f"no custom dataset folder under {root} (a subfolder no other loader reads)"
            statuses.append(DatasetStatus(ALL_CUSTOM, "missing", message=msg))
        for n in found:
            if n not in chosen:  # named explicitly as well: checked once, where it was named
                statuses.append(check_dataset(n, root, decode, workers, progress))
    return statuses


def format_report(statuses: Sequence[DatasetStatus], decoded: bool = True) -> str:
    """The human-readable report of :func:`check_datasets`."""
    out = []
    for s in statuses:
        if s.state != "found":
            out.append(f"{s.name}: {s.state.upper()}\n  " + s.message.replace("\n", "\n  "))
            continue
        extra = f" + {s.num_distractors} distractors" if s.num_distractors else ""
        line = (
            f"{s.name}: found at {s.folder}\n  {s.num_pids} ids, {s.num_images} images"
            f"{extra}, {s.num_cams} cameras"
        )
        if s.unreadable:
            line += f"\n  {len(s.unreadable)} unreadable image(s):\n" + format_unreadable(
                s.unreadable
            )
        elif decoded:
            line += ", all images decode"
        for limit in s.limits:
            line += f"\n  {'PROBLEM' if s.problem else 'note'}: {limit}"
        out.append(line)
    ok = sum(s.ok for s in statuses)
    out.append(f"{ok} of {len(statuses)} dataset(s) OK")
    return "\n".join(out)
