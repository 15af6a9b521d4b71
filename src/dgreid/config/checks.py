"""Which values each config key allows, checked in one pass over a loaded config.

:data:`RULES` maps every key of :class:`~dgreid.config.schema.Config` to a :class:`Rule`: a
bound for a number, the valid names for a choice, a rule for each item of a list. Names come from
the registries and constants of the code that reads the key (never a copy of them), loaded only
when a config is checked. :func:`check_config` then applies the rules that span several keys
(the batch holds whole identities, a target is not also a source, ...). Every broken rule is
reported at once, each naming the key, its value, where it was set and what is allowed.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dgreid.config.schema import Config


@dataclass(frozen=True)
class Rule:
    """``ok(value)`` holds for an allowed value; ``allowed`` says which ones in words."""

    ok: Callable[[Any], bool]
    allowed: str
    #: the valid names of a choice (for a "did you mean" hint); None for other rules
    names: Callable[[], list[str]] | None = None


def at_least(low: float) -> Rule:
    return Rule(lambda v: math.isfinite(v) and v >= low, f"a number >= {low:g}")


def above(low: float) -> Rule:
    return Rule(lambda v: math.isfinite(v) and v > low, f"a number > {low:g}")


def within(low: float, high: float, *, high_open: bool = False) -> Rule:
    if high_open:
        return Rule(lambda v: low <= v < high, f"a number in [{low:g}, {high:g})")
    return Rule(lambda v: low <= v <= high, f"a number in [{low:g}, {high:g}]")


def one_of(names: Callable[[], Iterable[str]], what: str = "") -> Rule:
    """A name from ``names()`` (a registry or a constant of the code that reads the key)."""
    listed = lambda: list(names())  # noqa: E731
    label = what or "one of"
    return Rule(lambda v: v in listed(), label, listed)


def each(rule: Rule, *, non_empty: bool = False) -> Rule:
    """A list whose every item satisfies ``rule`` (and that has at least one item)."""
    empty = "a non-empty list" if non_empty else "a list"
    return Rule(
        lambda v: (bool(v) or not non_empty) and all(rule.ok(x) for x in v),
        f"{empty}, each item {rule.allowed}",
        rule.names,
    )


def free(what: str) -> Rule:
    """Any value of the field's type (a path, a seed): nothing to check here."""
    return Rule(lambda v: True, what)


def _describe(rule: Rule) -> str:
    if rule.names is None:
        return rule.allowed
    return f"{rule.allowed} {', '.join(rule.names())}".strip()


# ---- the names, from the code that reads each key (imported only when a config is checked) ----


def _backbones() -> list[str]:
    from dgreid.models.backbone import BACKBONES

    return BACKBONES.names()


def _methods() -> list[str]:
    from dgreid.methods import METHODS

    return METHODS.names()


def _metrics() -> tuple[str, ...]:
    from dgreid.evaluation.distance import METRICS

    return METRICS


def _amp() -> list[str]:
    from dgreid.engine.settings import AMP_DTYPES

    return list(AMP_DTYPES)


def _optimizers() -> tuple[str, ...]:
    from dgreid.engine.settings import OPTIMIZERS

    return OPTIMIZERS


def _cache_modes() -> tuple[str, ...]:
    from dgreid.experiments.trainer_args import CACHE_MODES

    return CACHE_MODES


def _source_images() -> tuple[str, ...]:
    from dgreid.data.sources import SOURCE_IMAGES

    return SOURCE_IMAGES


def _synth_versions() -> list[str]:
    from dgreid.data.synth.shifts import VERSIONS

    return [str(v) for v in VERSIONS]


def _is_dataset(name: str) -> bool:
    from dgreid.data.datasets import DATASETS

    return name in DATASETS


def _dataset_names() -> list[str]:
    from dgreid.data.datasets import CUSTOM_PREFIX, DATASETS

    return [*DATASETS.names(), f"{CUSTOM_PREFIX}NAME"]


_DATASET = Rule(_is_dataset, "a dataset name, one of", _dataset_names)
_DEVICE = Rule(
    lambda v: re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) is not None, "auto, cpu, cuda or cuda:N"
)
_COUNT = at_least(0)  # 0 has a meaning (automatic, off, "the default") for these keys
_FRACTION = within(0, 1)
_WEIGHT = at_least(0)


#: key -> what it allows. Every key of the schema has an entry (a test holds the table to it);
#: a method's own keys have theirs in its settings' ``rules`` (:func:`method_rules`).
RULES: dict[str, Rule] = {
    "data.root": free("a folder"),
    "data.sources": each(_DATASET, non_empty=True),
    "data.targets": each(_DATASET, non_empty=True),
    "data.height": at_least(1),
    "data.width": at_least(1),
    "data.num_instances": at_least(1),
    "data.batch_size": at_least(1),
    "data.workers": _COUNT,
    "data.cache": one_of(_cache_modes),
    "data.cache_budget_mb": _COUNT,
    "data.source_holdout": within(0, 1, high_open=True),
    "data.source_images": one_of(_source_images),
    "data.synth_version": Rule(lambda v: str(v) in _synth_versions(), "one of", _synth_versions),
    "data.synth_shifts": free("shift family names (checked with data.synth_version)"),
    "data.pad": _COUNT,
    "data.color_jitter": _WEIGHT,
    "data.grayscale": _FRACTION,
    "data.erasing": _FRACTION,
    "data.augmix": free("true or false"),
    "model.backbone": one_of(_backbones),
    "model.extractor": one_of(_backbones),
    "model.pretrained": free("a weight file, imagenet, auto or none"),
    "model.embed_dim": at_least(1),
    "model.width_mult": above(0),
    "model.channels_last": free("true or false"),
    "model.sync_bn": free("true or false"),
    "method.name": one_of(_methods),
    "method.label_smooth": within(0, 1, high_open=True),
    "method.margin": _WEIGHT,
    "train.epochs": at_least(1),
    "train.iters_per_epoch": _COUNT,
    "train.lr": above(0),
    "train.optimizer": one_of(_optimizers),
    "train.momentum": within(0, 1, high_open=True),
    "train.weight_decay": _WEIGHT,
    "train.lr_steps": each(at_least(1)),
    "train.gamma": above(0),
    "train.warmup_iters": _COUNT,
    "train.backbone_lr_mult": _WEIGHT,
    "train.seed": at_least(0),
    "train.device": _DEVICE,
    "train.amp": one_of(_amp),
    "train.threads": _COUNT,
    "train.log_every": at_least(1),
    "train.eval_every": _COUNT,
    "train.max_iters": _COUNT,
    "train.tensorboard": free("true or false"),
    "eval.num_splits": at_least(1),
    "eval.num_test_ids": _COUNT,
    "eval.test_ids": _COUNT,
    "eval.probe_cams": each(at_least(0), non_empty=True),
    "eval.gallery_cams": each(at_least(0), non_empty=True),
    "eval.own_query_gallery": free("true or false"),
    "eval.split_seed": at_least(0),
    "eval.splits_file": free("a splits.json file or empty"),
    "eval.batch_size": at_least(1),
    "eval.flip": free("true or false"),
    "eval.metric": one_of(_metrics),
    "eval.rerank": free("true or false"),
    "eval.rerank_k1": at_least(1),
    "eval.rerank_k2": at_least(1),
    "eval.rerank_lambda": _FRACTION,
    "output_dir": Rule(lambda v: bool(v.strip()), "a folder (not empty)"),
}


def method_rules(cfg: Config) -> dict[str, Rule]:
    """The rules of the chosen method's own keys, as ``method.<field>`` -> rule."""
    return {f"method.{leaf}": rule for leaf, rule in cfg.method.own.rules.items()}


def value_of(cfg: Config, key: str) -> Any:
    """The value of dotted ``key`` in ``cfg`` (a method's own key from ``cfg.method.own``)."""
    section, _, leaf = key.rpartition(".")
    if section == "method" and not hasattr(cfg.method, leaf):
        return getattr(cfg.method.own, leaf)
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def problem_line(key: str, value: Any, rule: Rule, origins: Mapping[str, str]) -> str:
    where = f" (from {origins[key]})" if key in origins else ""
    allowed = _describe(rule)
    items = value if isinstance(value, list) else [value]
    if any(isinstance(v, int) and not isinstance(v, bool) for v in items):
        allowed = allowed.replace("a number", "an integer")
    msg = f"{key}={_text(value)}{where}: expected {allowed}"
    if rule.names is not None:
        names = rule.names()
        for item in items:
            alone = [item] if isinstance(value, list) else item
            if isinstance(item, str) and not rule.ok(alone):
                close = difflib.get_close_matches(item, names, n=1)
                if close:
                    msg += f"; did you mean {close[0]!r} for {item!r}?"
    return msg


def _across(cfg: Config) -> list[str]:
    """The rules that span several keys."""
    problems = []
    d = cfg.data
    if d.num_instances >= 1 and d.batch_size % d.num_instances:
        problems.append(
            f"data.batch_size={d.batch_size}: expected a multiple of data.num_instances="
            f"{d.num_instances} (a batch holds whole identities)"
        )
    both = [t for t in d.targets if t in d.sources]
    if both:
        problems.append(
            f"data.targets={d.targets}: {', '.join(both)} also in data.sources; a target must be "
            "a domain the model never sees in training (for an in-domain score use "
            "data.source_holdout)"
        )
    from dgreid.errors import DgreidError

    if str(d.synth_version) in _synth_versions():
        from dgreid.data.synth.shifts import parse_shifts

        try:
            parse_shifts(d.synth_shifts, d.synth_version)
        except DgreidError as e:
            problems.append(f"data.synth_shifts={d.synth_shifts}: {e}")
    if cfg.method.name in _methods():
        from dgreid.methods import METHODS
        from dgreid.methods.episodic import EpisodicMethod, require_episode_domains

        if issubclass(METHODS.get(cfg.method.name), EpisodicMethod):
            try:
                require_episode_domains(cfg.method.name, d.sources)
            except DgreidError as e:
                problems.append(f"data.sources={d.sources}: {e}")
    drawn = _drawn_targets(d.targets) if cfg.eval.own_query_gallery else []
    if drawn:
        problems.append(
            f"eval.own_query_gallery=true: target(s) {', '.join(drawn)} have no query/gallery of "
            "their own (their protocol draws random probe/gallery splits); name targets such as "
            "market1501, dukemtmc, msmt17 or cuhk03, or set eval.own_query_gallery=false"
        )
    from dgreid.evaluation.splits import CameraProtocol

    try:
        CameraProtocol(tuple(cfg.eval.probe_cams), tuple(cfg.eval.gallery_cams))
    except ValueError as e:
        problems.append(f"eval.probe_cams / eval.gallery_cams: {e}")
    return problems


def _drawn_targets(targets: list[str]) -> list[str]:
    """The targets whose loader's protocol draws random splits (GRID, VIPeR, CUHK01, ...)."""
    from dgreid.data.datasets import get_loader

    return [t for t in targets if get_loader(t, ".").protocol != "standard"]


def config_problems(cfg: Config, origins: Mapping[str, str] | None = None) -> list[str]:
    """Every broken rule of ``cfg`` as one line each (empty: the config is valid).
    ``origins`` maps a key to where its value was set (a file, an override)."""
    origins = origins or {}
    problems = []
    for key, rule in {**RULES, **method_rules(cfg)}.items():
        value = value_of(cfg, key)
        if not rule.ok(value):
            problems.append(problem_line(key, value, rule, origins))
    if problems:  # the rules across keys assume each key is valid on its own
        return problems
    return _across(cfg)


def check_config(cfg: Config, origins: Mapping[str, str] | None = None) -> None:
    """Raise :class:`~dgreid.config.loader.ConfigError` listing every broken rule of ``cfg``."""
    from dgreid.config.loader import ConfigError

    problems = config_problems(cfg, origins)
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f"{len(problems)} invalid values:\n  " + "\n  ".join(problems))
