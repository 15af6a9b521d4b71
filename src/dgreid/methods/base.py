"""The contract between a method and the trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from dgreid.structures import Batch


class Method(nn.Module):
    """A DG re-ID method: owns its networks, one training step, and the inference feature.

    Contract:
    - ``sampler`` is ``"pk"`` (PK batches over the union of sources), ``"episodic"`` (each
      batch is a PK batch drawn from one source domain; ``batch.domains`` are all equal) or
      ``"episodic_by_ids"`` (the same, the domain drawn in proportion to its identities).
    - ``train_step(batch, step)`` computes the losses of one iteration and returns a dict whose
      ``"loss"`` entry is the scalar to back-propagate; every other entry is a detached scalar
      for logging. ``step`` is the global iteration index (0-based); a method that needs extra
      randomness per step derives it from ``step`` so resumed runs repeat it exactly.
    - ``optimizer_step(losses, optimizer, scaler, step, recompute)`` applies one iteration's
      update; the default back-propagates ``losses["loss"]`` and steps the optimizer. A method
      with an update of its own (meta-learning: an inner step, then losses at the moved weights)
      overrides it.
    - ``embed(images)`` returns the re-ID feature used for matching, in eval mode.
    - ``needs_domain_extractors`` is True for a method that needs one trained, frozen extractor
      per source domain (stage 1, the ``extractor`` method) before it can be built: its
      constructor then takes ``extractors``, and ``dgreid train`` trains them first.
    """

    sampler: str = "pk"
    needs_domain_extractors: ClassVar[bool] = False

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
