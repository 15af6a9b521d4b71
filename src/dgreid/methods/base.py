"""The contract between a method and the trainer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from dgreid.config.schema import Config, MethodSettings
from dgreid.errors import DgreidError
from dgreid.structures import Batch


@dataclass(frozen=True)
class BuildContext:
    """What the caller knows beyond the config (dataset sizes, stage-1 results, schedule).

    - ``extractors``: the trained stage-1 F_i (episodic only), index = domain index.
    - ``placeholder_extractors``: episodic without trained extractors, building untrained
      ``cfg.model.extractor`` networks to be filled by ``load_state_dict`` (checkpoint loading).
    - ``total_steps``: the run's iteration count (DANN's schedule); 0 = derive it from the config.
    - ``pid_offset``: the first global id of the domain (extractor only; ``num_classes`` is then
      that domain's id count).
    """

    num_classes: int
    num_domains: int
    extractors: Sequence[nn.Module] | None = None
    total_steps: int = 0
    pid_offset: int = 0
    placeholder_extractors: bool = False


S = TypeVar("S", bound=MethodSettings)


def own_settings(cfg: Config, kind: type[S]) -> S:
    """``cfg.method.own`` as the settings type ``kind`` the reading method declared."""
    own = cfg.method.own
    if not isinstance(own, kind):
        raise DgreidError(
            f"method {cfg.method.name}: its config holds {type(own).__name__} settings, not "
            f"{kind.__name__} (set the method with MethodConfig.of(name), or load_config)"
        )
    return own


def network_arguments(cfg: Config, backbone: str = "") -> dict[str, Any]:
    """The constructor arguments every method takes from the config: its network
    (``backbone``, else ``model.backbone``), its initial weights and width, the id loss's
    label smoothing."""
    return dict(
        backbone=backbone or cfg.model.backbone,
        pretrained=cfg.model.pretrained,
        width_mult=cfg.model.width_mult,
        label_smooth=cfg.method.label_smooth,
    )


class Method(nn.Module):
    """A DG re-ID method: owns its networks, one training step, and the inference feature.

    Contract:
    - ``sampler`` is ``"pk"`` (PK batches over the union of sources) or ``"episodic"`` (each
      batch is a PK batch drawn from one source domain, the domain drawn uniformly;
      ``batch.domains`` are all equal).
    - ``train_step(batch, step)`` computes the losses of one iteration and returns a dict whose
      ``"loss"`` entry is the scalar to back-propagate; every other entry is a detached scalar
      for logging. ``step`` is the global iteration index (0-based); a method that needs extra
      randomness per step derives it from ``step`` so resumed runs repeat it exactly.
    - ``optimizer_step(losses, optimizer, scaler, step, recompute)`` applies one iteration's
      update; the default back-propagates ``losses["loss"]`` and steps the optimizer. A method
      with an update of its own (meta-learning: an inner step, then losses at the moved weights)
      overrides it.
    - ``embed(images)`` returns the re-ID feature used for matching, in eval mode.
    - ``from_config(cfg, ctx)`` builds the method from a run config (the common ``method.*``
      keys, its own settings in ``cfg.method.own``, ``model.*``) and ``ctx``.
    - ``needs_domain_extractors`` is True for a method that needs one trained, frozen extractor
      per source domain (stage 1, the ``extractor`` method) before it can be built: its
      constructor then takes ``extractors``, and ``dgreid train`` trains them first.
    """

    sampler: str = "pk"
    needs_domain_extractors: ClassVar[bool] = False

    @classmethod
    def from_config(cls, cfg: Config, ctx: BuildContext) -> Method:
        raise NotImplementedError

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def optimizer_step(
        self,
        losses: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        step: int,
        recompute: Callable[[], dict[str, torch.Tensor]],
    ) -> None:
        """Update the parameters from iteration ``step``'s ``losses`` (``train_step``'s output,
        its ``"loss"`` checked finite): clear the gradients, back-propagate the loss through
        ``scaler`` (the fp16 loss scale; a no-op otherwise), step ``optimizer`` and update the
        scale. The optimizer's rates are already set for ``step``.

        ``recompute()`` runs ``train_step`` on the same batch again, at the parameters as they
        are then, under the same autocast and (under DDP) through the same wrapper, so its
        backward averages gradients over processes too. A meta-learning override moves the
        weights by an inner step, calls ``recompute()`` for the meta-test losses there, and
        finishes with ``scaler.step(optimizer)`` and ``scaler.update()``.
        """
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(losses["loss"]).backward()
        scaler.step(optimizer)
        scaler.update()

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters the optimizer updates (frozen sub-networks are left out)."""
        return [p for p in self.parameters() if p.requires_grad]

    def pairwise_distance(
        self, query_feats: torch.Tensor, gallery_feats: torch.Tensor
    ) -> torch.Tensor | None:
        """A method-specific ``(Q, G)`` distance between ``embed`` outputs, or ``None`` to let
        the evaluator use its configured metric (the default; DIMN overrides it)."""
        return None
