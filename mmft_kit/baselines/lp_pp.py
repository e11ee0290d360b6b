"""LP++ (Huang, Shakeri, Dolz, Boudiaf, Bakhti & Ben Ayed, CVPR 2024) on frozen CLIP features.

A linear probe whose class weights blend visual prototypes with the text head by class-wise
multipliers::

    logits = f Wᵀ + b + (f Tᵀ) · diag(a)          (T: the zero-shot text head [C, D], a: [C])

trained full-batch with cross-entropy, as the authors' code does it:

* ``W`` starts as the per-class *sum* of the few-shot features, ``b`` at zero (the authors leave
  ``nn.Linear``'s random bias; zero keeps runs deterministic);
* ``a`` starts at ``250 · mean_k`` of the true-class text logits ``mean_{i∈k} f_i·t_k`` (the authors'
  ``calculate_init_alpha``: ``compute_centroids_alpha`` of the text logits keeps each image's logit of
  its own class, averages it per class, and the mean over classes times 250 is the start);
* ``W, b``: SGD with momentum 0.9 at step ``4N / λ_max(FᵀF)`` (the loss's Lipschitz bound);
* ``a``: a plain gradient step of ``N / (4 · max_j Σ_i (f_i·t_j)²)`` every 10 epochs;
* 300 epochs; the epoch with the best validation accuracy is kept (ties: the later one).

Deviation: the authors' ``a`` step uses a gradient that is never reset, so it sums every epoch
since the start; here it sums the 10 epochs since the last step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from .heads import FeatureHead, accuracy_of, one_hot, register_head

EPOCHS = 300
ALPHA_EVERY = 10
ALPHA_INIT_FACTOR = 250.0


@register_head
@dataclass
class LPPlusPlusHead(FeatureHead):
    """``f Wᵀ + b + (f Tᵀ) · a``."""

    rule: ClassVar[str] = "lp_pp"
    weight: torch.Tensor     # [C, D] visual prototypes
    bias: torch.Tensor       # [C]
    text_head: torch.Tensor  # [C, D]
    blend: torch.Tensor      # [C] class-wise multipliers a

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        f = features.float()
        return f @ self.weight.float().T + self.bias.float() + (f @ self.text_head.float().T) * self.blend.float()


def fit_lp_pp(
    features: torch.Tensor,
    labels: torch.Tensor,
    text_head: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    epochs: int = EPOCHS,
) -> tuple[LPPlusPlusHead, dict]:
    """Fit LP++ and keep the best validation epoch.

    Args:
        features, labels: few-shot features ``[N, D]`` (L2-normalised) and labels ``[N]``.
        text_head: the zero-shot head ``[C, D]``.
        val_features, val_labels: validation data (epoch selection only).
        epochs: full-batch epochs (the authors' 300).

    Returns:
        ``(head, info)`` with ``info = {"val_accuracy", "best_epoch", "lr_w", "lr_blend", "init_blend"}``.
    """
    f, y = features.float(), labels.long()
    text = text_head.float()
    n, c = f.shape[0], text.shape[0]
    onehot = one_hot(y, c)
    text_logits = f @ text.T                                             # [N, C]
    true_class_mean = (onehot * text_logits).sum(0) / onehot.sum(0).clamp(min=1)          # [C]
    init_blend = ALPHA_INIT_FACTOR * float(true_class_mean.mean())
    lr_w = 4.0 * n / float(torch.linalg.eigvalsh(f.T @ f).max())
    lr_blend = n / (4.0 * float((text_logits ** 2).sum(0).max()))
    weight = torch.nn.Parameter(onehot.T @ f)
    bias = torch.nn.Parameter(torch.zeros(c))
    blend = torch.full((c,), init_blend, requires_grad=True)
    optimizer = torch.optim.SGD([weight, bias], lr=lr_w, momentum=0.9)

    def head() -> LPPlusPlusHead:
        return LPPlusPlusHead(weight.detach().clone(), bias.detach().clone(), text, blend.detach().clone())

    best, best_acc, best_epoch = head(), -1.0, 0
    for epoch in range(epochs):
        logits = f @ weight.T + bias + text_logits * blend
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (epoch + 1) % ALPHA_EVERY == 0:
            with torch.no_grad():
                blend -= lr_blend * blend.grad
            blend.grad = None
        current = head()
        val_acc = accuracy_of(current.logits(val_features), val_labels)
        if val_acc >= best_acc:
            best, best_acc, best_epoch = current, val_acc, epoch + 1
    return best, {"val_accuracy": best_acc, "best_epoch": best_epoch, "lr_w": lr_w, "lr_blend": lr_blend,
                  "init_blend": init_blend}
