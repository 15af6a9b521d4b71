"""The contract between a method and the trainer."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from dgreid.structures import Batch


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
    - ``embed(images)`` returns the re-ID feature used for matching, in eval mode.
    - ``needs_domain_extractors`` is True for a method that needs one trained, frozen extractor
      per source domain (stage 1, the ``extractor`` method) before it can be built: its
      constructor then takes ``extractors``, and ``dgreid train`` trains them first.
    """

    sampler: str = "pk"
    needs_domain_extractors: ClassVar[bool] = False

    def train_step(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

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
