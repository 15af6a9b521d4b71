"""IBN-a backbones: half the channels of an early norm per instance, half per batch, in the plain
network's own key layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dgreid.models import build_backbone
from dgreid.models.ibn import IBN_NORMS, InstanceBatchNorm2d, to_ibn


def _hand_norm(x: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5)


def test_ibn_norm_matches_a_hand_computed_case() -> None:
    torch.manual_seed(0)
    norm = InstanceBatchNorm2d(4)  # channels 0-1 per instance, 2-3 per batch
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([2.0, 3.0, 4.0, 5.0]))
        norm.bias.copy_(torch.tensor([0.5, -0.5, 1.0, -1.0]))
    x = torch.randn(3, 4, 5, 2) * 4 + 7
    out = norm(x)
    w, b = norm.weight.view(1, 4, 1, 1).detach(), norm.bias.view(1, 4, 1, 1).detach()
    expected_in = _hand_norm(x[:, :2], (2, 3)) * w[:, :2] + b[:, :2]
    expected_bn = _hand_norm(x[:, 2:], (0, 2, 3)) * w[:, 2:] + b[:, 2:]
    torch.testing.assert_close(out[:, :2], expected_in, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out[:, 2:], expected_bn, atol=1e-4, rtol=1e-4)
    # running statistics move for the batch half only (momentum 0.1 from mean 0, var 1)
    batch_mean = x[:, 2:].mean(dim=(0, 2, 3))
    torch.testing.assert_close(norm.running_mean[2:], 0.1 * batch_mean)
    assert torch.equal(norm.running_mean[:2], torch.zeros(2))
    assert int(norm.num_batches_tracked) == 1


def test_ibn_norm_in_eval_uses_running_stats_for_the_batch_half_only() -> None:
    norm = InstanceBatchNorm2d(4).eval()
    norm.running_mean.fill_(2.0)
    norm.running_var.fill_(4.0)
    x = torch.randn(2, 4, 3, 3) + 5
    out = norm(x)
    torch.testing.assert_close(out[:, 2:], (x[:, 2:] - 2.0) / (4.0 + 1e-5) ** 0.5)
    torch.testing.assert_close(out[:, :2], _hand_norm(x[:, :2], (2, 3)), atol=1e-4, rtol=1e-4)
    # a brighter copy of one image: the instance half does not change, the batch half does
    out2 = norm(3.0 * x)
    torch.testing.assert_close(out2[:, :2], out[:, :2], atol=1e-3, rtol=1e-3)
    assert not torch.allclose(out2[:, 2:], out[:, 2:])


def test_from_batchnorm_keeps_parameters_and_buffers() -> None:
    bn = nn.BatchNorm2d(6, eps=1e-3, momentum=0.2)
    for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
        t.data.uniform_(0.5, 1.5)
    ibn = InstanceBatchNorm2d.from_batchnorm(bn)
    assert (ibn.eps, ibn.momentum, ibn.instance_channels) == (1e-3, 0.2, 3)
    for k, v in bn.state_dict().items():
        assert torch.equal(ibn.state_dict()[k], v)


@pytest.mark.parametrize("plain", sorted(IBN_NORMS))
def test_ibn_variant_has_the_plain_key_layout_and_ibn_where_listed(plain: str) -> None:
    net = build_backbone(f"{plain}_ibn", "none")
    ref = build_backbone(plain, "none")
    assert {k: v.shape for k, v in net.state_dict().items()} == {
        k: v.shape for k, v in ref.state_dict().items()
    }
    ibn = {n for n, m in net.named_modules() if isinstance(m, InstanceBatchNorm2d)}
    assert ibn == set(IBN_NORMS[plain](ref)) and len(ibn) >= 3
    # the plain network's weights load into the variant unchanged
    net.load_state_dict(ref.state_dict())


def test_to_ibn_refuses_a_module_that_is_not_a_batchnorm() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match="0 is a Conv2d"):
        to_ibn(net, ["0"])
    to_ibn(net, ["1"])
    assert isinstance(net[1], InstanceBatchNorm2d)


def test_sync_bn_refuses_ibn_norms() -> None:
    from dgreid.engine.distributed import _refuse_ibn_sync
    from dgreid.errors import TrainingError

    _refuse_ibn_sync(build_backbone("convnet_small", "none"))  # plain: nothing to refuse
    with pytest.raises(TrainingError, match=r"sync_bn .*body\.0\.1"):
        _refuse_ibn_sync(build_backbone("convnet_small_ibn", "none"))


def test_ibn_norm_without_momentum_keeps_a_cumulative_average_as_batchnorm_does() -> None:
    torch.manual_seed(0)
    ibn, bn = InstanceBatchNorm2d(4, momentum=None), nn.BatchNorm2d(4, momentum=None)
    for _ in range(3):
        x = torch.randn(5, 4, 3, 3) + 2.0
        ibn(x), bn(x)
    torch.testing.assert_close(ibn.running_mean[2:], bn.running_mean[2:])
    torch.testing.assert_close(ibn.running_var[2:], bn.running_var[2:])
