"""Scale-free episodic losses and episodic_plus's terms and switches, with hand-computed cases."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dgreid.errors import TrainingError
from dgreid.losses import batch_hard_triplet, consistency_loss
from dgreid.methods import build_method
from dgreid.methods.episodic import EpisodicMethod, running_stats_frozen
from dgreid.methods.episodic_plus import EpisodicPlusMethod
from test_methods import DN, extractors, tiny_batch


def episodic(name: str = "episodic", **kw: object) -> EpisodicMethod:
    torch.manual_seed(0)
    method = build_method(name, num_classes=3, extractors=extractors(), embed_dim=16, **DN, **kw)
    assert isinstance(method, EpisodicMethod)
    return method


def test_normalised_consistency_is_two_minus_two_cosine() -> None:
    # a = (3, 4) -> (0.6, 0.8); b = (0, 1): ||a^ - b^||^2 = 0.36 + 0.04 = 0.4 = 2 - 2 * 0.8
    method = episodic(normalize=True)
    a, b = torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 1.0]])
    value = consistency_loss(method.metric_space(a), method.metric_space(b))
    assert value.item() == pytest.approx(0.4)
    raw = episodic(normalize=False)
    assert consistency_loss(raw.metric_space(a), raw.metric_space(b)).item() == pytest.approx(18.0)


def test_normalised_losses_do_not_depend_on_feature_scale() -> None:
    method = episodic(normalize=True).train()
    ep = method.episode(tiny_batch(domain=1), step=0)
    scaled = dataclasses.replace(ep, v_j=10 * ep.v_j, v_k=10 * ep.v_k, v=10 * ep.v)
    a, b = method.losses(ep, tiny_batch(domain=1)), method.losses(scaled, tiny_batch(domain=1))
    for name in ("tri", "consis"):
        assert a[name][1].item() == pytest.approx(b[name][1].item(), rel=1e-5)
    raw = episodic(normalize=False).train()
    ep = raw.episode(tiny_batch(domain=1), step=0)
    scaled = dataclasses.replace(ep, v_j=10 * ep.v_j, v_k=10 * ep.v_k, v=10 * ep.v)
    c, d = raw.losses(ep, tiny_batch(domain=1)), raw.losses(scaled, tiny_batch(domain=1))
    assert d["consis"][1].item() == pytest.approx(100 * c["consis"][1].item(), rel=1e-4)


def test_encoder_batchnorms_have_no_scale_or_shift() -> None:
    assert episodic().encoder.bn1.weight is None and episodic().encoder.bn2.weight is None


def test_episodic_plus_terms_add_up() -> None:
    method = episodic("episodic_plus", normalize=True).train()
    out = method.train_step(tiny_batch(domain=2), step=1)
    assert set(out) == {"loss", "cls", "tri", "consis", "tri_global", "consis_global"}
    total = out["cls"] + 0.2 * (out["tri"] + out["tri_global"])
    total = total + 0.01 * (out["consis"] + out["consis_global"])
    assert out["loss"].item() == pytest.approx(total.item(), rel=1e-5)


def test_episodic_plus_is_episodic_plus_its_global_terms() -> None:
    """With the paper's test feature, episodic_plus is episodic with L_tri and L_consis also on
    E(F(x)): the shared terms and the test feature are equal, the loss adds the global ones."""
    plus = episodic("episodic_plus", test_feature="encoder").train()
    base = episodic().train()
    a = plus.train_step(tiny_batch(domain=0), step=4)
    b = base.train_step(tiny_batch(domain=0), step=4)
    assert set(a) == set(b) | {"tri_global", "consis_global"}
    assert all(torch.equal(a[k], b[k]) for k in b if k != "loss")
    extra = 0.2 * a["tri_global"] + 0.01 * a["consis_global"]
    assert a["loss"].item() == pytest.approx((b["loss"] + extra).item(), rel=1e-6)
    plus.eval(), base.eval()
    images = tiny_batch().images
    assert torch.equal(plus.embed(images), base.embed(images))


def test_concat_test_feature_is_two_unit_halves() -> None:
    method = episodic("episodic_plus", test_feature="concat").eval()
    assert isinstance(method, EpisodicPlusMethod)
    with torch.no_grad():
        feats = method.embed(tiny_batch().images)
    width = method.backbone.out_features
    assert feats.shape == (4, width + 16)
    assert torch.allclose(feats[:, :width].norm(dim=1), torch.ones(4), atol=1e-5)
    assert torch.allclose(feats[:, width:].norm(dim=1), torch.ones(4), atol=1e-5)


def test_backbone_test_feature_is_fs_pooled_feature() -> None:
    method = episodic("episodic_plus", f_id=1.0).eval()  # the default test feature
    assert isinstance(method, EpisodicPlusMethod) and method.test_feature == "backbone"
    images = tiny_batch().images
    for norm in [*method.backbone.modules(), *method.f_neck.modules()]:  # a trained-looking neck
        if isinstance(norm, torch.nn.BatchNorm1d):
            norm.running_mean.add_(1.0)
    with torch.no_grad():
        feats = method.embed(images)
        pooled = method.backbone.pooled(images)
        neck = method.f_neck(method.backbone(images)) if method.f_neck is not None else None
    assert torch.equal(feats, pooled) and feats.shape == (4, method.backbone.out_features)
    assert neck is not None and not torch.allclose(feats, neck)  # before the BNNeck


def test_unknown_test_feature_is_refused_with_the_choices() -> None:
    with pytest.raises(TrainingError, match=r"test_feature='neck'.*backbone, concat, encoder"):
        episodic("episodic_plus", test_feature="neck")


def test_episodic_plus_f_tri_is_a_triplet_on_fs_pooled_feature() -> None:
    method = episodic("episodic_plus", normalize=True, f_tri=0.5).train()
    batch = tiny_batch(domain=2)
    ep = method.episode(batch, step=1)
    assert torch.equal(ep.pooled, method.backbone.pooled(batch.images))
    weight, value = method.losses(ep, batch)["f_tri"]
    assert weight == 0.5
    assert value.item() == pytest.approx(batch_hard_triplet(ep.pooled, batch.pids, 0.3).item())
    assert "f_tri" not in episodic("episodic_plus").losses(ep, batch)


def test_episodic_plus_f_id_is_an_id_loss_on_fs_neck_feature() -> None:
    import math

    from torch import nn

    method = episodic("episodic_plus", normalize=True, f_id=0.5).train()
    assert isinstance(method.f_neck, nn.Identity)  # DualNorm's own feature BatchNorm is the neck
    assert method.f_classifier is not None and method.f_classifier.bias is None
    batch = tiny_batch(domain=2)
    ep = method.episode(batch, step=1)
    assert torch.allclose(ep.feat, method.backbone.finish(ep.pooled))
    with torch.no_grad():
        method.f_classifier.weight.zero_()  # uniform logits: CE = log(3) whatever the smoothing
    weight, value = method.losses(ep, batch)["f_id"]
    assert weight == 0.5 and value.item() == pytest.approx(math.log(3))
    assert "f_id" not in episodic("episodic_plus").losses(ep, batch)
    assert episodic("episodic_plus").f_classifier is None


def test_episodic_plus_f_id_puts_a_bnneck_on_a_plain_f_and_tests_on_it() -> None:
    from torch import nn

    torch.manual_seed(0)
    method = build_method(
        "episodic_plus", num_classes=3, extractors=extractors(), embed_dim=16,
        backbone="convnet_small", width_mult=0.25, f_id=1.0, test_feature="concat",
    )  # fmt: skip
    assert isinstance(method, EpisodicPlusMethod) and isinstance(method.f_neck, nn.BatchNorm1d)
    method.train_step(tiny_batch(domain=0), step=0)["loss"].backward()
    assert method.f_neck.weight.grad is not None  # the neck learns from the id loss
    method.eval()
    x = tiny_batch(domain=1).images
    own = method.f_neck(method.backbone(x))
    out = method.embed(x)
    width = method.backbone.out_features
    assert torch.allclose(out[:, :width], nn.functional.normalize(own, dim=1), atol=1e-6)


def test_episodes_draw_one_domain_unless_mixed() -> None:
    assert episodic().sampler == "episodic"
    assert episodic("episodic_plus").sampler == "episodic"


def test_mixed_episodes_give_each_image_two_other_domains() -> None:
    method = episodic("episodic_plus", normalize=True, mixed_episodes=True).train()
    assert method.sampler == "pk"
    doms = torch.tensor([0, 0, 1, 1, 2, 2])
    js, ks = method.pick_pairs(doms, step=3)
    assert js == method.pick_pairs(doms, step=3)[0]  # a pure function of (seed, step)
    for d, j, k in zip(doms.tolist(), js, ks):
        assert len({d, j, k}) == 3  # three sources: the other two, in either order
    g = torch.Generator().manual_seed(0)
    images = torch.randn(6, 3, 32, 16, generator=g)
    batch = dataclasses.replace(tiny_batch(n=6), images=images, domains=doms)
    ep = method.episode(batch, step=3)
    assert (ep.i, ep.j, ep.k) == (-1, -1, -1)
    # image n's view j is F_{j_n}(x_n); E sees the mixed views as one batch
    with torch.no_grad(), running_stats_frozen(method.encoder):
        bj = torch.stack([method.extractors[j](images[n : n + 1])[0] for n, j in enumerate(js)])
        assert torch.allclose(method.encoder(bj), ep.v_j, atol=1e-5)
    out = method.train_step(batch, step=3)
    assert torch.isfinite(out["loss"]) and {"tri", "consis", "cls"} <= set(out)


def _backbone_grads(method: EpisodicMethod, term: str) -> list[torch.Tensor]:
    """The gradient of one loss term on F's parameters (zeros where it does not reach)."""
    method.zero_grad()
    batch = tiny_batch(domain=1)
    method.losses(method.episode(batch, step=2), batch)[term][1].backward()
    return [
        torch.zeros_like(p) if p.grad is None else p.grad.clone()
        for p in method.backbone.parameters()
    ]


def test_cls_reaches_f_through_e_and_f_tri_through_f_alone() -> None:
    method = episodic("episodic_plus", f_tri=1.0).train()
    assert any(g.abs().sum() > 0 for g in _backbone_grads(method, "cls"))
    assert any(g.abs().sum() > 0 for g in _backbone_grads(method, "f_tri"))
    _backbone_grads(method, "f_tri")
    assert method.encoder.fc1.weight.grad is None  # F's own loss does not reach E
