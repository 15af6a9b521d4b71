"""Stage 1 schedule and reuse keys: the stage-0 network's own length (method.stage0_epochs)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dgreid.config.schema import Config, MethodConfig, TrainConfig
from dgreid.experiments.stage_plan import STAGE0, stage1_key, stage1_settings


def _cfg(tmp_path: Path, stage0_epochs: int = 0) -> Config:
    base = Config()
    return replace(
        base,
        data=replace(base.data, root=str(tmp_path)),
        train=TrainConfig(epochs=10, lr_steps=[8]),
        method=MethodConfig.of("episodic", stage1_epochs=8, stage0_epochs=stage0_epochs),
    )


def test_stage0_epochs_sets_the_stage0_networks_length_and_milestone(tmp_path: Path) -> None:
    same = _cfg(tmp_path)
    # stage 1: 8 epochs, the main run's milestone 8 of 10 scaled to int(8 * 8 / 10) = 6
    assert (stage1_settings(same).epochs, stage1_settings(same).lr_steps) == (8, [6])
    assert stage1_settings(same, stage0=True) == stage1_settings(same)
    longer = _cfg(tmp_path, stage0_epochs=16)
    # stage 0: 16 epochs, milestone int(8 * 16 / 10) = 12; the F_i keep stage 1's schedule
    assert (
        stage1_settings(longer, stage0=True).epochs,
        stage1_settings(longer, stage0=True).lr_steps,
    ) == (16, [12])
    assert stage1_settings(longer) == stage1_settings(same)


def test_stage0_epochs_changes_the_keys_of_every_network_started_from_stage0(
    tmp_path: Path,
) -> None:
    same, longer = _cfg(tmp_path), _cfg(tmp_path, stage0_epochs=16)
    for domain, start in [(STAGE0, "random"), ("synth-duke", STAGE0)]:
        assert stage1_key(same, domain, 100, start) != stage1_key(longer, domain, 100, start)
    # extractors that start from ImageNet weights do not depend on a stage-0 network
    assert stage1_key(same, "synth-duke", 100, "pretrained") == stage1_key(
        longer, "synth-duke", 100, "pretrained"
    )


def _own_stage1_steps(cfg: Config) -> Config:
    return replace(
        cfg, method=replace(cfg.method, own=replace(cfg.method.own, stage1_lr_steps=[1]))
    )


def test_keys_follow_the_milestones_each_network_trains_with(tmp_path: Path) -> None:
    """A longer final run whose stage 1 has its own milestones keeps its extractors; one that
    moves only the stage-0 network's scaled milestone retrains stage 0 and what started from
    it."""
    own = _own_stage1_steps(_cfg(tmp_path))
    longer = replace(own, train=TrainConfig(epochs=22, lr_steps=[18]))
    assert stage1_settings(longer).lr_steps == stage1_settings(own).lr_steps == [1]
    assert stage1_key(own, "synth-duke", 100, "pretrained") == stage1_key(
        longer, "synth-duke", 100, "pretrained"
    )

    short = _own_stage1_steps(_cfg(tmp_path, stage0_epochs=16))  # stage 0: int(8*16/10) = 12
    long = replace(short, train=TrainConfig(epochs=20, lr_steps=[8]))  # int(8*16/20) = 6
    assert stage1_settings(long).lr_steps == stage1_settings(short).lr_steps == [1]
    assert stage1_settings(long, stage0=True).lr_steps == [6]
    assert stage1_settings(short, stage0=True).lr_steps == [12]
    for domain, start in [(STAGE0, "random"), ("synth-duke", STAGE0)]:
        assert stage1_key(short, domain, 100, start) != stage1_key(long, domain, 100, start)


def test_augmentation_enters_the_keys_only_when_changed(tmp_path: Path) -> None:
    """The keys of a config with the augmentation at its defaults are those computed before the
    augmentation options existed (the values below); each option changes every key."""
    plain = replace(Config(), data=replace(Config().data, root="/nowhere/data"))
    before = {("synth-duke", "pretrained"): "b1342fa5daa4", (STAGE0, "random"): "b93d961a7573"}
    for (domain, start), key in before.items():
        assert stage1_key(plain, domain, 100, start) == key
    changes = {"pad": 3, "color_jitter": 0.2, "grayscale": 0.1, "erasing": 0.5, "augmix": True}
    for name, value in changes.items():
        changed = replace(plain, data=replace(plain.data, **{name: value}))
        for domain, start in before:
            assert stage1_key(changed, domain, 100, start) != before[domain, start], name
