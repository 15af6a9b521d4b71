"""Faults on disk (issue 11, parts 2, 4 and 5): hostile dataset folders, a full disk, and a run
folder that already holds a run.

Dataset folders hold empty folders, zero-byte images, text files named .jpg, 1x1 and
10,000x10,000 images, unicode and spaces in paths and symlink loops; each is a clear error
naming the file, or a documented skip, and nothing hangs (a SIGALRM guard fails the test after a
few seconds). A full disk is an ``OSError(ENOSPC)`` injected into ``dgreid.utils.io`` while a
file is written: the previous file stays intact, no temporary file is left, and the error names
the path. Checkpoint writes on a full disk: tests/test_trainer.py::
test_disk_full_keeps_previous_checkpoint_and_names_path.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageFile

from dgreid.cli.main import main
from dgreid.data.check import check_datasets, require_readable
from dgreid.data.datasets import build_dataset
from dgreid.data.image_dataset import MAX_SIDE, read_image
from dgreid.data.transforms import build_transform
from dgreid.deploy.features import list_images as list_folder_images
from dgreid.deploy.model_file import load_model_file, make_meta, save_model_file
from dgreid.engine.device import resolve_train_device
from dgreid.errors import DatasetError, DgreidError, TrainingError
from dgreid.evaluation.protocol import ProtocolResult, TargetResult, write_protocol_outputs
from dgreid.utils.io import WriteError
from test_deploy_helpers import tiny_config, tiny_method

Img = Callable[..., Path]


@contextlib.contextmanager
def must_finish_within(seconds: float) -> Iterator[None]:
    """Fail (instead of stalling the suite) if the body is still running after ``seconds``."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def custom_tree(root: Path, img: Img, names: list[str]) -> Path:
    """A ``custom`` dataset (Market-style names) holding a tiny image per name."""
    folder = root / "custom"
    for name in names:
        img(folder / name)
    return folder


# ------------------------------------------------------------------ hostile dataset folders


def test_empty_folders_are_malformed_not_crashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for sub in ("bounding_box_train", "query", "bounding_box_test"):
        (tmp_path / "market1501" / sub).mkdir(parents=True)
    (tmp_path / "custom" / "empty sub").mkdir(parents=True)
    code = main(["data", "check", "--root", str(tmp_path), "--datasets", "market1501", "custom"])
    out = capsys.readouterr().out
    assert code == 1
    assert "market1501: MALFORMED" in out and "no images found" in out
    assert "custom: MALFORMED" in out and "no manifest.csv and no images" in out
    with pytest.raises(DatasetError, match="no images found"):
        build_dataset("market1501", tmp_path)


def test_zero_byte_and_text_named_jpg_are_listed_by_check_and_training(
    tmp_path: Path, tiny_image: Img, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = custom_tree(tmp_path, tiny_image, ["0001_c1_a.jpg", "0001_c2_b.jpg"])
    empty = folder / "0002_c1_empty.jpg"
    empty.write_bytes(b"")
    text = folder / "0002_c2_text.jpg"
    text.write_text("<html>this is a web page saved as .jpg</html>")
    code = main(["data", "check", "--root", str(tmp_path), "--datasets", "custom"])
    out = capsys.readouterr().out
    assert code == 1 and "2 unreadable image(s)" in out
    assert f"{empty}: empty file (0 bytes)" in out and f"{text}: cannot decode image" in out
    with pytest.raises(DatasetError) as err:  # what `dgreid train` runs before the first step
        require_readable(build_dataset("custom", tmp_path).records, progress=False)
    msg = str(err.value)
    assert msg.startswith("2 image(s) cannot be decoded") and str(empty) in msg
    assert str(text) in msg and "0001_c1_a.jpg" not in msg


def test_one_pixel_image_is_accepted_and_resized(tmp_path: Path) -> None:
    """A 1x1 crop is a (useless but valid) image: it decodes and resizes like any other."""
    path = tmp_path / "0001_c1_dot.png"
    Image.new("RGB", (1, 1), (200, 10, 10)).save(path)
    img = read_image(str(path))
    assert img.size == (1, 1)
    for train in (False, True):
        assert build_transform(64, 32, train=train)(img).shape == (3, 64, 32)
    (tmp_path / "custom").mkdir()
    path.rename(tmp_path / "custom" / path.name)
    (status,) = check_datasets(tmp_path, ["custom"])
    assert status.num_images == 1 and not status.unreadable  # it decodes
    assert status.problem and not status.ok  # but one image can serve no role


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 10,000 x 10,000 PNG (1-bit, about 12 kB on disk, 300 MB once decoded as RGB)."""
    path = tmp_path_factory.mktemp("huge") / "0001_c1_huge.png"
    Image.new("1", (10_000, 10_000)).save(path)
    return path


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_huge_image_refused_from_its_header_without_decoding(
    huge_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    with pytest.raises(DatasetError) as err:
        read_image(str(huge_png))
    assert str(err.value) == (
        f"{huge_png}: image is 10000x10000, larger than {MAX_SIDE} px on a side; "
        "is this a person crop?"
    )


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_huge_image_listed_by_check_and_skipped_by_extract(
    huge_png: Path, tmp_path: Path, tiny_image: Img, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = custom_tree(tmp_path, tiny_image, ["0001_c2_ok.jpg"])
    os.symlink(huge_png, folder / huge_png.name)
    assert main(["data", "check", "--root", str(tmp_path), "--datasets", "custom"]) == 1
    assert f"{folder / huge_png.name}: image is 10000x10000" in capsys.readouterr().out
    from dgreid.deploy.features import _FolderImages

    images = _FolderImages(list_folder_images(folder), build_transform(32, 16, train=False))
    got = {
        Path(images.paths[i]).name: (t is None, msg)
        for i, t, msg in map(images.__getitem__, range(len(images)))
    }
    assert got["0001_c2_ok.jpg"] == (False, "")  # fmt: skip
    skipped, reason = got[huge_png.name]
    assert skipped and "larger than 8192 px" in reason  # `dgreid extract` lists it as skipped


def test_unicode_and_spaces_in_paths(tmp_path: Path, tiny_image: Img) -> None:
    root = tmp_path / "dätä sét" / "视频 1"
    names = ["0001_c1_é t.jpg", "0001_c2_ü.png", "0002_c1_名前.bmp", "0002_c2_x y.jpeg"]
    folder = custom_tree(root, tiny_image, names)
    (status,) = check_datasets(root, ["custom"])
    assert status.ok and status.num_images == 4 and status.num_pids == 2
    records = build_dataset("custom", root).records
    require_readable(records, progress=False)
    assert {Path(r.path).name for r in records} == set(names)
    assert [p.name for p in list_folder_images(folder)] == sorted(names)


def test_symlink_loops_do_not_hang(tmp_path: Path, tiny_image: Img) -> None:
    """``Path.rglob`` (custom loader, ``dgreid extract``) does not descend into symlinked
    folders, so a loop is listed once and never walked; a file symlink pointing at itself is an
    unreadable image named in the error."""
    folder = custom_tree(tmp_path, tiny_image, ["a/0001_c1_x.jpg", "a/0001_c2_y.jpg"])
    os.symlink("..", folder / "a" / "up")  # custom/a/up -> custom
    os.symlink(folder, folder / "a" / "abs loop")  # absolute, same loop
    os.symlink("0002_c1_self.jpg", folder / "0002_c1_self.jpg")  # a file loop
    with must_finish_within(10):
        records = build_dataset("custom", tmp_path).records
        (status,) = check_datasets(tmp_path, ["custom"])
        listed = list_folder_images(folder)
    assert sorted(Path(r.path).name for r in records) == [
        "0001_c1_x.jpg", "0001_c2_y.jpg", "0002_c1_self.jpg"
    ]  # fmt: skip
    assert [(Path(p).name, "symbolic links" in why) for p, why in status.unreadable] == [
        ("0002_c1_self.jpg", True)
    ]
    assert [p.name for p in listed] == ["0001_c1_x.jpg", "0001_c2_y.jpg"]  # the loop is no file
    with must_finish_within(10), pytest.raises(DatasetError, match="0002_c1_self.jpg"):
        require_readable(records, progress=False)


def test_dataset_folder_that_is_a_symlink_to_itself(tmp_path: Path) -> None:
    os.symlink(tmp_path / "viper", tmp_path / "viper")
    with must_finish_within(10):
        code = main(["data", "check", "--root", str(tmp_path), "--datasets", "viper"])
    assert code == 1


# ------------------------------------------------------------------ disk full


def enospc_while_writing(monkeypatch: pytest.MonkeyPatch, folder: Path, name: str) -> None:
    """From now on, fsync of the temporary file of ``folder/name`` fails with ENOSPC."""
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if any(folder.glob(f".{name}.*.tmp")):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def tiny_result(rank1: float) -> ProtocolResult:
    target = TargetResult("viper", [], {"rank1": rank1}, {"rank1": 0.0})
    return ProtocolResult({"viper": target}, {"rank1": rank1}, "euclidean", {"viper": []},
                          {"viper": "/data/viper"})  # fmt: skip


def test_disk_full_keeps_previous_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_protocol_outputs(tmp_path, tiny_result(0.5))
    before = {p: p.read_bytes() for p in paths.values()}
    enospc_while_writing(monkeypatch, tmp_path, "results.json")
    with pytest.raises(WriteError) as err:
        write_protocol_outputs(tmp_path, tiny_result(0.9))
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, DgreidError)
    assert f"could not write {paths['results']}: No space left on device" in str(err.value)
    assert json.loads(paths["results"].read_text())["average"]["rank1"] == 0.5
    assert paths["results"].read_bytes() == before[paths["results"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "splits.json"]


def test_disk_full_keeps_previous_model_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny_config()
    old, new = tiny_method(cfg, seed=0), tiny_method(cfg, seed=1)
    path = tmp_path / "model.pt"
    save_model_file(path, old, cfg, make_meta(cfg, old, 5, 2))
    enospc_while_writing(monkeypatch, tmp_path, "model.pt")
    with pytest.raises(WriteError) as err:
        save_model_file(path, new, cfg, make_meta(cfg, new, 5, 2))
    assert err.value.errno == errno.ENOSPC and str(path) in str(err.value)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    loaded = load_model_file(path).method.state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in old.state_dict().items() if k in loaded)


def test_cli_disk_full_is_exit_1_naming_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    enospc_while_writing(monkeypatch, out, "config.yaml")
    code = main(["train", *train_args(tmp_path, out)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"could not write {out / 'config.yaml'}: No space left on device" in err
    assert "Traceback" not in err and list(out.iterdir()) == []


# ------------------------------------------------------------------ the run folder guard (CLI)


def train_args(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    """``dgreid train`` argv that passes the run-folder guard, then stops: no dataset there."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        "method:\n  name: baseline\ndata:\n  sources: [market1501]\n  targets: [viper]\n"
    )
    return [str(cfg), f"output_dir={out}", f"data.root={tmp_path / 'no data'}", *extra]


def test_cli_train_refuses_a_folder_holding_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run 1"
    assert main(["train", *train_args(tmp_path, out)]) == 1  # the guard passed; no data
    assert "dataset 'market1501' not found" in capsys.readouterr().err
    assert (out / "config.yaml").is_file()
    logged = [ln for ln in (out / "train.log").read_text().splitlines() if " ERROR " in ln]
    assert len(logged) == 1 and "dataset 'market1501' not found" in logged[0]

    # no checkpoint yet: nothing to lose, the same command runs again there
    assert main(["train", *train_args(tmp_path, out)]) == 1
    assert "dataset 'market1501' not found" in capsys.readouterr().err
    ckpt = out / "checkpoints" / "last.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"a checkpoint")
    assert main(["train", *train_args(tmp_path, out)]) == 1
    err = capsys.readouterr().err
    assert f"{out} already holds a run ({ckpt} exists)" in err
    assert "--resume" in err and "--overwrite" in err

    changed = train_args(tmp_path, out, "train.epochs=3", "train.lr=0.5", "train.log_every=1")
    assert main(["train", *changed, "--resume"]) == 1
    err = capsys.readouterr().err
    assert (
        "cannot resume" in err and "train.epochs: 10 -> 3" in err and "train.lr: 0.01 -> 0.5" in err
    )
    assert "log_every" not in err  # how a run is watched may change on resume

    assert main(["train", *train_args(tmp_path, out), "--resume"]) == 1  # same config: passes
    assert "not found" in capsys.readouterr().err
    assert main(["train", *changed, "--overwrite"]) == 1  # starts again with the new config
    assert "epochs: 3" in (out / "config.yaml").read_text()


def test_bad_train_device_is_a_training_error() -> None:
    with pytest.raises(TrainingError, match="train.device='gpu0': expected auto, cpu, cuda"):
        resolve_train_device("gpu0")


# ------------------------------------------------------------------ SIGINT (Ctrl-C)


def test_sigint_saves_and_prints_resume_command(tmp_path: Path) -> None:
    """Ctrl-C behaves as SIGTERM does (tests/test_trainer.py::
    test_sigterm_saves_and_prints_resume_command): the step ends, a checkpoint is written and
    the message gives the exact resume command."""
    from dgreid.engine import load_checkpoint
    from test_trainer import run_script

    proc = run_script(tmp_path, "SIGINT", at=5, workers=0)
    assert proc.returncode != 0
    step = load_checkpoint(tmp_path / "out" / "checkpoints" / "last.pt")["step"]
    assert step in (5, 6)  # the signal came after step 5's update; the step in flight finishes
    assert f"stopped by SIGINT after iteration {step} of 12" in proc.stderr
    assert "Resume with: dgreid train cfg.yaml --resume" in proc.stderr
    assert "KeyboardInterrupt" not in proc.stderr


def test_ctrl_c_before_the_first_checkpoint_exits_130_and_names_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the images are cached: exit 130, the message and train.log say how to go
    on; with no checkpoint written, that is the same command again, which is not refused."""
    import dgreid.experiments.train_run as train_run

    def interrupted(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(train_run, "load_sources", interrupted)
    out = tmp_path / "run"
    argv = train_args(tmp_path, out)
    assert main(["train", *argv]) == 130
    err = capsys.readouterr().err
    rerun = shlex.join(["dgreid", "train", *argv])
    assert f"interrupted before the first checkpoint; start again with: {rerun}" in err
    log_text = (out / "train.log").read_text()
    assert "WARNING" in log_text and f"start again with: {rerun}" in log_text

    ckpt = out / "checkpoints" / "last.pt"  # with a checkpoint, the hint is --resume
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"a checkpoint")
    assert main(["train", *argv, "--resume"]) == 130
    err = capsys.readouterr().err
    assert f"the last checkpoint is {ckpt}; resume with: {rerun} --resume" in err
