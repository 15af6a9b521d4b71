"""Methods: one training step each, frozen extractors, episode sampling, config adapter."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from dgreid.config.schema import Config, MethodConfig
from dgreid.errors import TrainingError
from dgreid.methods import METHODS, Method, build_method, method_from_config
from dgreid.methods.dann import DANNMethod, reversal_weight
from dgreid.methods.dimn import DIMNMethod
from dgreid.methods.episodic import EpisodicMethod, running_stats_frozen
from dgreid.models import build_backbone
from dgreid.structures import Batch

SMALL = dict(backbone="convnet_small")
DN = dict(width_mult=0.35)


def tiny_batch(domain: int = 0, n: int = 4) -> Batch:
    g = torch.Generator().manual_seed(domain)
    return Batch(
        images=torch.randn(n, 3, 32, 16, generator=g),
        pids=torch.arange(n) // 2,
        camids=torch.arange(n) % 2,
        domains=torch.full((n,), domain, dtype=torch.long),
    )


def extractors(n: int = 3) -> list[nn.Module]:
    torch.manual_seed(1)
    return [build_backbone("convnet_small", width_mult=0.25) for _ in range(n)]


def make(name: str) -> Method:
    torch.manual_seed(0)
    kwargs: dict[str, Any] = {
        "baseline": SMALL,
        "dualnorm": DN,
        "dann": dict(SMALL, num_domains=3, total_steps=10),
        "dimn": SMALL,
        "extractor": SMALL,
        "episodic": dict(DN, extractors=extractors(), embed_dim=16),
        "episodic_plus": dict(DN, extractors=extractors(), embed_dim=16),
    }[name]
    return build_method(name, num_classes=3, **kwargs)


def test_every_method_a_shipped_config_names_is_registered() -> None:
    import yaml

    configs = Path(__file__).resolve().parent.parent / "configs"
    named = {
        data["method"]["name"]
        for path in configs.rglob("*.yaml")
        if isinstance(data := yaml.safe_load(path.read_text()), dict)
        and isinstance(data.get("method"), dict)
        and "name" in data["method"]
    }
    assert len(named) >= 6 and named <= set(METHODS.names())


def built(name: str) -> Method:
    """Registered method ``name`` from a small config through its ``from_config`` (a DualNorm
    network every method accepts; trained-looking extractors for a method that needs them)."""
    cfg = small_config(name)
    cfg.model.backbone, cfg.model.width_mult = "convnet_dualnorm", 0.35
    torch.manual_seed(0)
    needs = METHODS.get(name).needs_domain_extractors
    return method_from_config(cfg, 3, 3, extractors=extractors() if needs else None)


@pytest.mark.parametrize("name", METHODS.names())
def test_train_step_finite_and_gradients(name: str) -> None:
    method = built(name).train()
    out = method.train_step(tiny_batch(), step=3)
    assert "loss" in out and out["loss"].dim() == 0
    assert all(torch.isfinite(v).all() for v in out.values())
    assert all(not v.requires_grad for k, v in out.items() if k != "loss")
    out["loss"].backward()
    params = method.trainable_parameters()
    assert params
    missing = [n for n, p in method.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    method.eval()
    with torch.no_grad():
        feats = method.embed(tiny_batch().images)
    assert feats.shape[0] == 4 and torch.isfinite(feats).all()


def test_episodic_losses_and_frozen_extractors() -> None:
    method = make("episodic")
    assert isinstance(method, EpisodicMethod)
    method.train()
    assert all(not m.training for m in method.extractors)  # .train() never unfreezes them
    assert method.encoder.training and method.backbone.training
    out = method.train_step(tiny_batch(domain=1), step=0)
    assert set(out) == {"loss", "cls", "tri", "consis"}
    total = out["cls"] + 0.2 * out["tri"] + 0.01 * out["consis"]
    assert out["loss"].item() == pytest.approx(total.item(), rel=1e-5)
    out["loss"].backward()
    frozen = list(method.extractors.parameters())
    assert all(not p.requires_grad and p.grad is None for p in frozen)
    trainable = {id(p) for p in method.trainable_parameters()}
    assert not trainable & {id(p) for p in frozen}
    assert any(k.startswith("extractors.0.") for k in method.state_dict())
    width = method.extractors[0].out_features  # 64 channels x 4 stripes at width 0.25
    assert width == 256
    assert method.feat_dim == width and method.proj.out_features == width  # from F_i width


def test_episodic_picks_distinct_domains_deterministically() -> None:
    method = make("episodic")
    assert isinstance(method, EpisodicMethod)
    method.extractors.append(build_backbone("convnet_small", width_mult=0.25))  # 4 domains
    picks = set()
    for step in range(30):
        for i in range(4):
            j, k = method.pick_domains(i, step)
            assert j != k and i not in (j, k) and {j, k} <= {0, 1, 2, 3}
            assert (j, k) == method.pick_domains(i, step)  # a resumed run repeats it
            picks.add((i, j, k))
    assert len(picks) > 12  # draws vary over steps


def test_episodic_refuses_fewer_than_three_domains() -> None:
    with pytest.raises(TrainingError, match="synth-a, synth-b"):
        build_method(
            "episodic",
            num_classes=3,
            extractors=extractors(2),
            domain_names=["synth-a", "synth-b"],
            **DN,
        )
    cfg = Config()
    cfg.data.sources = ["market1501", "dukemtmc"]
    with pytest.raises(TrainingError, match="market1501, dukemtmc"):
        method_from_config(cfg, num_classes=3, num_domains=2)


def test_episodic_refuses_mixed_domain_batch() -> None:
    method = make("episodic").train()
    batch = tiny_batch()
    batch.domains = torch.tensor([0, 0, 1, 1])
    with pytest.raises(TrainingError, match="one source domain"):
        method.train_step(batch, 0)


def test_running_stats_frozen_context() -> None:
    bn = nn.BatchNorm1d(3).train()
    with running_stats_frozen(bn):
        bn(torch.randn(8, 3) + 5.0)
    assert torch.equal(bn.running_mean, torch.zeros(3)) and bn.momentum == 0.1
    bn(torch.randn(8, 3) + 5.0)
    assert bn.running_mean.abs().sum() > 0


def test_dann_schedule_and_reversed_domain_gradient() -> None:
    assert reversal_weight(0, 100) == 0.0
    assert reversal_weight(50, 100) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert reversal_weight(500, 100) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    method = make("dann")
    assert isinstance(method, DANNMethod)
    feats = torch.randn(4, method.backbone.out_features, requires_grad=True)
    doms = torch.tensor([0, 1, 2, 0])
    ce = nn.functional.cross_entropy
    ce(method.domain_head(feats, 0.7), doms).backward()
    assert feats.grad is not None
    reversed_grad = feats.grad.clone()
    feats.grad = None
    ce(method.domain_head.net(feats), doms).backward()
    assert torch.allclose(reversed_grad, -0.7 * feats.grad, atol=1e-6)


def test_dimn_memory_and_distance() -> None:
    torch.manual_seed(0)
    method = build_method("dimn", num_classes=3, **SMALL).train()
    assert isinstance(method, DIMNMethod)
    method.train_step(tiny_batch(), 0)
    assert method.seen.tolist() == [True, True, False]
    out = method.train_step(tiny_batch(domain=5), 1)
    assert out["reg"].item() > 0  # generated weights regress towards the memory bank
    method.eval()
    width = method.backbone.out_features
    q, g = torch.randn(5, width), torch.randn(7, width)
    dist = method.pairwise_distance(q, g)
    w = nn.functional.normalize(method.generator(g), dim=1)
    expected = 1 - nn.functional.normalize(q, dim=1) @ w.t()
    assert dist.shape == (5, 7) and torch.allclose(dist, expected, atol=1e-5)
    assert Method.pairwise_distance(make("baseline"), q, g) is None


def test_dimn_learned_memory_terms_by_hand() -> None:
    torch.manual_seed(0)
    method = build_method("dimn", num_classes=3, **SMALL).train()
    assert isinstance(method, DIMNMethod) and isinstance(method.memory, nn.Parameter)
    batch = tiny_batch()  # ids 0, 0, 1, 1: id 2 is out of the batch
    out = method.train_step(batch, 0)
    feats = method.backbone(batch.images)  # no step was taken: the same weights, in train mode
    w = nn.functional.normalize(method.generator(feats), dim=1)
    probe = nn.functional.normalize(feats, dim=1)
    rows = nn.functional.normalize(method.memory, dim=1)
    proto = nn.functional.normalize(torch.stack([w[:2].mean(0), w[2:].mean(0)]), dim=1)
    # the global id loss: every probe against every bank row, scale 16, smoothing 0.1
    logits = 16.0 * probe @ rows.t()
    logp = logits.log_softmax(1)
    glob = -(0.9 * logp[torch.arange(4), batch.pids] + 0.1 * logp.mean(1)).mean()
    reg = ((proto - rows[:2]) ** 2).sum(1).mean()
    assert out["id"].item() == pytest.approx(glob.item(), rel=1e-4)
    assert out["reg"].item() == pytest.approx(reg.item(), rel=1e-4)
    method.zero_grad()
    out["loss"].backward()
    assert method.memory.grad is not None and method.memory.grad[2].abs().sum() > 0
    assert method.seen.tolist() == [True, True, False]


def test_extractor_checks_pid_range() -> None:
    method = build_method("extractor", num_classes=2, pid_offset=10, **SMALL).train()
    batch = tiny_batch()
    batch.pids = batch.pids + 10
    assert torch.isfinite(method.train_step(batch, 0)["loss"])
    with pytest.raises(TrainingError, match="outside"):
        method.train_step(tiny_batch(), 0)


def small_config(name: str) -> Config:
    cfg = Config(method=MethodConfig.of(name))
    cfg.model.backbone = (
        "convnet_small" if name not in ("dualnorm", "episodic") else cfg.model.backbone
    )
    cfg.model.extractor = "convnet_small"
    cfg.model.pretrained = "none"
    cfg.model.width_mult = 0.35 if name in ("dualnorm", "episodic") else 1.0
    cfg.model.embed_dim = 16
    cfg.train.iters_per_epoch = 5
    return cfg


@pytest.mark.parametrize("name", METHODS.names())
def test_method_from_config(name: str) -> None:
    method = built(name)
    assert type(method) is METHODS.get(name)
    assert method.sampler in ("pk", "episodic")


def test_method_from_config_episodic_checkpoint_roundtrip() -> None:
    cfg = small_config("episodic")
    with pytest.raises(TrainingError, match="stage-1 extractors"):
        method_from_config(cfg, num_classes=3, num_domains=4)
    torch.manual_seed(0)
    fs = [build_backbone("convnet_small") for _ in range(4)]
    trained = method_from_config(cfg, num_classes=3, num_domains=4, extractors=fs)
    assert trained.sampler == "episodic"
    trained.train().train_step(tiny_batch(domain=2), 0)
    loaded = method_from_config(cfg, 3, 4, placeholder_extractors=True)
    loaded.load_state_dict(trained.state_dict())
    x = tiny_batch().images
    with torch.no_grad():
        assert torch.allclose(trained.eval().embed(x), loaded.eval().embed(x))
        assert torch.equal(trained.extractors[3](x), loaded.extractors[3](x))


def test_every_method_reads_its_config_and_declares_its_stage1_needs() -> None:
    """What ``dgreid train`` asks the registered class: its own ``from_config``, and stage 1
    when it needs the per-domain extractors (and then its constructor takes them)."""
    import inspect

    for name in METHODS.names():
        cls = METHODS.get(name)
        assert cls.from_config.__func__ is not Method.from_config.__func__, name  # type: ignore[attr-defined]
        params = inspect.signature(cls).parameters
        passed_on = any(p.kind is p.VAR_KEYWORD for p in params.values())  # to a base class
        if cls.needs_domain_extractors:
            assert "extractors" in params or passed_on, name
        if "extractors" in params:
            assert cls.needs_domain_extractors, name
    assert METHODS.get("episodic").needs_domain_extractors
    assert not METHODS.get("baseline").needs_domain_extractors


@pytest.mark.parametrize("name", ["baseline", "dualnorm", "dann"])
def test_bnneck_and_feature_triplet_recipe(name: str) -> None:
    """``method.bnneck`` puts a BatchNorm between feature and classifier (the test feature too;
    DualNorm's own feature BatchNorm serves as the neck); ``method.feature_tri`` adds a triplet
    term on the pooled feature before any BatchNorm."""
    cfg = small_config(name)
    cfg.method.own.bnneck, cfg.method.own.feature_tri = True, 0.5
    method = method_from_config(cfg, num_classes=3, num_domains=3)
    own_bn = method.backbone.has_feature_bn
    assert own_bn == (name == "dualnorm") and method.classifier.bias is None
    neck = method.backbone.feat_bn if own_bn else method.neck
    assert isinstance(neck, nn.BatchNorm1d) and (method.neck is None) == own_bn
    batch = tiny_batch()
    torch.manual_seed(3)
    out = method.train().train_step(batch, step=2)
    assert {"cls", "tri"} <= set(out)
    weighted = out["cls"] + 0.5 * out["tri"]
    if name == "dann":
        weighted = weighted + cfg.method.own.lambda_domain * out["domain"]
    assert torch.allclose(out["loss"].detach(), weighted)
    out["loss"].backward()
    assert neck.weight.grad is not None
    method.eval()
    x = batch.images
    with torch.no_grad():
        pooled = method.backbone.pooled(x)
        assert torch.allclose(method.embed(x), neck(pooled), atol=1e-6)
        assert torch.allclose(method.backbone(x), method.backbone.finish(pooled))
    plain = method_from_config(small_config(name), num_classes=3, num_domains=3)
    assert plain.neck is None and "tri" not in plain.train().train_step(tiny_batch(), 2)
    assert plain.classifier.bias is not None


def test_feature_triplet_sees_the_pooled_feature_before_dualnorms_batchnorm() -> None:
    from dgreid.losses import batch_hard_triplet

    cfg = small_config("dualnorm")
    cfg.method.own.feature_tri = 1.0
    method = method_from_config(cfg, num_classes=3, num_domains=3).eval()  # no dropout/BN noise
    batch = tiny_batch()
    with torch.no_grad():
        out = method.train_step(batch, 0)
        expected = batch_hard_triplet(method.backbone.pooled(batch.images), batch.pids, 0.3)
    assert out["tri"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_extractor_loss_is_its_triplet_plus_its_id_loss() -> None:
    """F_i learns from a batch-hard triplet on its feature and an id loss through its BNNeck."""
    cfg = small_config("extractor")
    torch.manual_seed(0)
    method = method_from_config(cfg, num_classes=2, num_domains=1).train()
    out = method.train_step(tiny_batch(), 0)
    assert out["tri"] > 0 and out["cls"] > 0
    assert torch.allclose(out["loss"].detach(), out["tri"] + out["cls"])


def test_dann_on_a_dualnorm_network_updates_its_feature_batchnorm_once_per_step() -> None:
    cfg = small_config("dann")
    cfg.model.backbone, cfg.model.width_mult = "convnet_dualnorm", 0.35
    method = method_from_config(cfg, num_classes=3, num_domains=3).train()
    method.train_step(tiny_batch(), step=1)
    assert int(method.backbone.feat_bn.num_batches_tracked) == 1
