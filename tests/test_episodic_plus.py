"""Scale-free episodic losses and the episodic_plus switches, with hand-computed cases."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dgreid.errors import TrainingError
from dgreid.losses import batch_hard_triplet, consistency_loss
from dgreid.methods import build_method
from dgreid.methods.episodic import EpisodicMethod, running_stats_frozen
from dgreid.methods.episodic_plus import EpisodicPlusMethod, MixStyle
from dgreid.structures import Batch
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


def test_encoder_affine_switch() -> None:
    assert episodic(encoder_affine=True).encoder.bn2.weight is not None
    assert episodic().encoder.bn2.weight is None


def test_episodic_plus_terms_add_up() -> None:
    method = episodic("episodic_plus", normalize=True).train()
    out = method.train_step(tiny_batch(domain=2), step=1)
    assert set(out) == {"loss", "cls", "tri", "consis", "tri_global", "consis_global"}
    total = out["cls"] + 0.2 * (out["tri"] + out["tri_global"])
    total = total + 0.01 * (out["consis"] + out["consis_global"])
    assert out["loss"].item() == pytest.approx(total.item(), rel=1e-5)


def test_episodic_plus_switches_off_is_episodic() -> None:
    off = dict(tri_global=False, consis_global=False, test_feature="encoder", mixstyle=0.0)
    plus = episodic("episodic_plus", **off).train()
    base = episodic().train()
    a = plus.train_step(tiny_batch(domain=0), step=4)
    b = base.train_step(tiny_batch(domain=0), step=4)
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
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


def test_mixstyle_mixes_statistics_and_is_identity_in_eval() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5) * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(4, 1, 1, 1)
    mix = MixStyle(p=1.0)
    assert torch.equal(mix.eval()(x), x)
    y = mix.train()(x)
    assert y.shape == x.shape and not torch.equal(x, y)

    # the normalised content is kept: per-channel standardised maps are unchanged
    def standardise(t: torch.Tensor) -> torch.Tensor:
        mu = t.mean(dim=(2, 3), keepdim=True)
        return (t - mu) / (t.var(dim=(2, 3), keepdim=True) + 1e-6).sqrt()

    assert torch.allclose(standardise(x), standardise(y), atol=1e-3)
    with pytest.raises(Exception, match="probability"):
        MixStyle(p=1.5)


def test_mixstyle_needs_style_layers() -> None:
    with pytest.raises(Exception, match="style_layers"):
        torch.manual_seed(0)
        build_method(
            "episodic_plus", num_classes=3, extractors=extractors(), embed_dim=16,
            backbone="resnet_tiny", mixstyle=0.5,
        )  # fmt: skip


def test_mixstyle_acts_in_the_small_network_in_training_only() -> None:
    """convnet_small names its first two stages as style layers: MixStyle (p = 1) changes F's
    training-mode feature there and leaves the eval-mode feature alone."""
    torch.manual_seed(0)
    kwargs = dict(num_classes=3, extractors=extractors(), embed_dim=16, backbone="convnet_small")
    plain = build_method("episodic_plus", **kwargs)
    mixed = build_method("episodic_plus", **kwargs, mixstyle=1.0)
    mixed.load_state_dict(plain.state_dict())
    images = tiny_batch(domain=0).images
    plain.eval(), mixed.eval()
    assert torch.equal(plain.backbone.pooled(images), mixed.backbone.pooled(images))
    plain.train(), mixed.train()
    torch.manual_seed(1)
    a = plain.backbone.pooled(images)
    torch.manual_seed(1)
    b = mixed.backbone.pooled(images)
    assert not torch.allclose(a, b)


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


def test_episode_domains_picks_the_sampler_and_refuses_other_values() -> None:
    assert episodic().sampler == "episodic"
    assert episodic(episode_domains="identities").sampler == "episodic_by_ids"
    assert episodic("episodic_plus", episode_domains="identities").sampler == "episodic_by_ids"
    with pytest.raises(Exception, match="method.episode_domains must be one of uniform, ident"):
        episodic(episode_domains="by_size")


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


def test_f_from_e_scales_the_gradient_e_sends_into_f_and_nothing_else() -> None:
    full = episodic("episodic_plus", f_tri=1.0).train()
    half = episodic("episodic_plus", f_tri=1.0, f_from_e=0.5).train()
    cut = episodic("episodic_plus", f_tri=1.0, f_from_e=0.0).train()
    g1, g_half, g0 = (_backbone_grads(m, "cls") for m in (full, half, cut))
    assert any(g.abs().sum() > 0 for g in g1)  # L_cls reaches F through proj, E and C
    assert all(torch.allclose(h, 0.5 * g, atol=1e-6) for h, g in zip(g_half, g1))
    assert all(torch.equal(g, torch.zeros_like(g)) for g in g0)
    # F's own loss and E's parameters are untouched by the switch; the forward is the same
    f1, f0 = _backbone_grads(full, "f_tri"), _backbone_grads(cut, "f_tri")
    assert all(torch.allclose(a, b) for a, b in zip(f1, f0))
    _backbone_grads(cut, "cls")
    assert cut.encoder.fc1.weight.grad is not None and cut.encoder.fc1.weight.grad.abs().sum() > 0
    batch = tiny_batch(domain=1)
    assert torch.equal(full.episode(batch, 2).v, cut.episode(batch, 2).v)
    with pytest.raises(TrainingError, match="f_from_e"):
        episodic("episodic_plus", f_from_e=1.5)


def _mixed_batch() -> Batch:
    """Six images of three ids from domains 0, 0, 1, 1, 2, 2 (two per id)."""
    g = torch.Generator().manual_seed(3)
    return Batch(
        images=torch.randn(6, 3, 32, 16, generator=g),
        pids=torch.tensor([0, 0, 5, 5, 9, 9]),
        camids=torch.arange(6) % 2,
        domains=torch.tensor([0, 0, 1, 1, 2, 2]),
    )


def _meta(meta_lr: float, f_tri: float = 1.0) -> EpisodicPlusMethod:
    torch.manual_seed(0)
    method = build_method(
        "episodic_plus", num_classes=10, extractors=extractors(), embed_dim=16,
        backbone="convnet_small", width_mult=0.25, f_id=1.0, f_tri=f_tri,
        mixed_episodes=True, meta_lr=meta_lr,
    )  # fmt: skip
    assert isinstance(method, EpisodicPlusMethod)
    return method.train()


def test_meta_episodes_test_f_after_one_step_on_the_other_domains() -> None:
    import copy

    batch, step = _mixed_batch(), 5
    method = _meta(meta_lr=0.5)
    held = method.meta_test_domain(batch.domains, step)
    assert held in (0, 1, 2) and held == method.meta_test_domain(batch.domains, step)
    test = batch.domains == held
    # by hand: a copy of F takes one plain SGD step of rate 0.5 on F's own losses over the
    # meta-train images, then F's own losses on the meta-test images are measured with it; the
    # whole batch passes through F each time (BatchNorm sees the batch), the losses are split
    moved = copy.deepcopy(method)
    pooled = moved.backbone.pooled(batch.images)
    inner = moved.own_terms(pooled, moved.backbone.finish(pooled), batch.pids, rows=~test)
    sum(w * v for w, v in inner.values()).backward()
    with torch.no_grad():
        for p in moved.backbone.parameters():
            if p.grad is not None:
                p -= 0.5 * p.grad
    pooled = moved.backbone.pooled(batch.images)
    outer = moved.own_terms(pooled, moved.backbone.finish(pooled), batch.pids, rows=test)
    expected = sum(w * v for w, v in outer.values())
    terms = method.step_terms(batch, step)
    share = float(test.float().mean())
    assert terms["meta"][0] == pytest.approx(share)
    assert terms["meta"][1].detach().item() == pytest.approx(float(expected.detach()), rel=1e-4)
    assert terms["f_id"][0] == pytest.approx(1.0 - share)
    # the meta term trains F (through the moved weights) and its own heads
    method.zero_grad()
    terms["meta"][1].backward()
    grads = [p.grad for p in method.backbone.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert method.f_classifier is not None and method.f_classifier.weight.grad is not None
    # meta_lr ~ 0, id loss alone: the two weighed parts add up to the whole batch's id loss
    still = _meta(meta_lr=1e-12, f_tri=0.0)
    split = still.step_terms(batch, step)
    whole = _meta(meta_lr=0.0, f_tri=0.0).step_terms(batch, step)
    assert "meta" not in whole
    parts = split["f_id"][0] * split["f_id"][1] + split["meta"][0] * split["meta"][1]
    assert parts.item() == pytest.approx(whole["f_id"][1].item(), rel=1e-4)


def test_meta_episodes_skip_one_domain_batches_and_refuse_what_they_cannot_split() -> None:
    method = _meta(meta_lr=0.1)
    one = dataclasses.replace(_mixed_batch(), domains=torch.zeros(6, dtype=torch.long))
    assert "meta" not in method.step_terms(one, step=0)
    assert "meta" not in _meta(meta_lr=0.0).step_terms(_mixed_batch(), step=0)
    with pytest.raises(TrainingError, match="method.mixed_episodes=true"):
        episodic("episodic_plus", f_id=1.0, meta_lr=0.1)  # one-domain episodes
    with pytest.raises(TrainingError, match="method.f_id or method.f_tri"):
        episodic("episodic_plus", mixed_episodes=True, meta_lr=0.1)
