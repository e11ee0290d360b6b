"""The MMFT training loss: CLIP's contrastive loss plus a class-supervised contrastive term.

With ``s_ij = logit_scale · f_i·g_j`` on L2-normalised image features ``f`` and text
(caption) features ``g``:

* ``L_clip`` — CLIP's symmetric cross-entropy with the own pair as the target (open_clip's
  :class:`~open_clip.loss.ClipLoss`);
* ``L_sup`` — for each anchor ``i`` with positives ``P(i) = {j ≠ i : y_j = y_i}``,
  ``-1/|P(i)| Σ_{j∈P(i)} log softmax_j(s_i·)``, averaged over the anchors that have a positive,
  computed image→text and text→image and averaged; the own pair stays in the softmax
  denominator. A batch in which no anchor has a positive falls back to ``L_clip``;
* ``L = w·L_sup + (1 − w)·L_clip`` (``w = 0.1`` in the paper).

Log-probabilities come from ``log_softmax``, so the loss stays finite at CLIP's largest
logit scale (100), where a raw ``exp`` overflows in float32.

Across ranks (torch.distributed), features and labels are gathered so that every term sees the
global batch. The kit trains with ``local_loss=True, gather_with_grad=True`` (open_clip's
recommended setting): each rank computes only its own anchors' rows against every rank's
columns (``B/N × B`` logits instead of ``B × B``), and the gradient flowing back through the
gathered features makes the DDP-averaged gradient exactly the one-process gradient. The
supervised term is normalised by the number of anchors with a positive in the *global* batch
(and its fallback decided on the global batch), so the ranks' losses average to the one-process loss.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from open_clip.loss import ClipLoss

from .errors import InvalidInputError


def gather_labels(labels: torch.Tensor, world_size: int) -> torch.Tensor:
    """Concatenate every rank's labels in rank order (as open_clip gathers features)."""
    gathered = [torch.empty_like(labels) for _ in range(world_size)]
    dist.all_gather(gathered, labels)
    return torch.cat(gathered)


def supervised_contrastive(logits: torch.Tensor, positives: torch.Tensor, anchors: int | None = None) -> torch.Tensor:
    """Mean negative log-probability of each row's positives, summed over the rows with any, over ``anchors``.

    ``logits`` is ``[rows, columns]``; ``positives`` a boolean mask of the same shape that
    already excludes each row's own pair. Rows without a positive are left out; ``anchors``
    (default: the number of rows with a positive, i.e. the mean over them) is what the sum is
    divided by. The caller handles a mask with no positive at all.
    """
    log_prob = F.log_softmax(logits, dim=1)
    n_positives = positives.sum(dim=1)
    has_positive = n_positives > 0
    summed = torch.where(positives, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    anchors = int(has_positive.sum()) if anchors is None else anchors
    return -(summed[has_positive] / n_positives[has_positive]).sum() / anchors


def anchors_with_positive(labels: torch.Tensor) -> int:
    """How many samples of a batch share their label with another sample of it."""
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    return int((counts[inverse] > 1).sum())


class MMFTLoss(ClipLoss):
    """``w·L_sup + (1 − w)·L_clip`` on a batch of image features, caption features and labels.

    Called as ``loss(image_features, text_features, logit_scale, labels)`` with L2-normalised
    features and ``logit_scale`` already exponentiated (what open_clip's ``CLIP.forward``
    returns). The distributed options mean what they mean for open_clip's ``ClipLoss``;
    labels are gathered across ranks the way features are, and the supervised term's anchor
    count and fallback are those of the global batch. With ``local_loss`` each rank's loss is
    its own anchors' share scaled so that the mean over ranks (what DDP's gradient averaging
    takes) is the global-batch loss; every rank must then hold the same number of samples.
    ``output_dict=True`` returns the weighted parts ``{"clip_loss", "supcon_loss"}``, which
    sum to the loss, as open_clip's losses do.
    """

    def __init__(
        self,
        w: float = 0.1,
        local_loss: bool = False,
        gather_with_grad: bool = False,
        cache_labels: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not 0.0 <= w <= 1.0:
            raise InvalidInputError(f"the supervised-loss weight w must lie in [0, 1]; got {w}")
        super().__init__(
            local_loss=local_loss,
            gather_with_grad=gather_with_grad,
            cache_labels=cache_labels,
            rank=rank,
            world_size=world_size,
        )
        self.w = w

    def forward(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        logit_scale: torch.Tensor | float,
        labels: torch.Tensor | Sequence[int],
        output_dict: bool = False,
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        labels = self._checked_labels(labels, image_features, text_features)
        logits_per_image, logits_per_text = self.get_logits(image_features, text_features, logit_scale)
        targets = self.get_ground_truth(image_features.device, logits_per_image.shape[0])
        clip_loss = (F.cross_entropy(logits_per_image, targets) + F.cross_entropy(logits_per_text, targets)) / 2

        all_labels = gather_labels(labels, self.world_size) if self.world_size > 1 else labels
        anchors = anchors_with_positive(all_labels)
        if anchors:
            positives = self._positive_mask(labels, all_labels, targets)
            # a local-loss rank holds 1/N of the anchors: scale its share so the ranks' mean is the global mean
            share = self.world_size if self.local_loss and self.world_size > 1 else 1
            supcon_loss = share * (
                supervised_contrastive(logits_per_image, positives, anchors)
                + supervised_contrastive(logits_per_text, positives, anchors)
            ) / 2
        else:
            supcon_loss = clip_loss

        parts = {"clip_loss": (1 - self.w) * clip_loss, "supcon_loss": self.w * supcon_loss}
        return parts if output_dict else parts["clip_loss"] + parts["supcon_loss"]

    def _positive_mask(self, labels: torch.Tensor, all_labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Same-class mask ``[rows, columns]`` of the logits, own pairs removed.

        Rows are the anchors (the local batch with ``local_loss``, else every rank's), columns
        every rank's samples; ``targets`` holds each row's own column, as for ``ClipLoss``.
        """
        row_labels = labels if self.local_loss else all_labels
        positives = row_labels[:, None] == all_labels[None, :]
        rows = torch.arange(len(targets), device=targets.device)
        positives[rows, targets] = False
        return positives

    @staticmethod
    def _checked_labels(
        labels: torch.Tensor | Sequence[int], image_features: torch.Tensor, text_features: torch.Tensor
    ) -> torch.Tensor:
        batch = image_features.shape[0]
        if text_features.shape[0] != batch:
            raise InvalidInputError(
                f"{batch} image features but {text_features.shape[0]} text features: give one caption per image"
            )
        try:
            labels = torch.as_tensor(labels, device=image_features.device)
        except (TypeError, ValueError) as error:
            raise InvalidInputError(f"labels must be integer class indices, one per image: {error}") from error
        if labels.shape != (batch,):
            raise InvalidInputError(
                f"labels must have shape ({batch},), one class index per image in the batch; "
                f"got shape {tuple(labels.shape)}"
            )
        return labels
