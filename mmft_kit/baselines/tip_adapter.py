"""Tip-Adapter and Tip-Adapter-F (Zhang et al., ECCV 2022) on frozen CLIP features.

The cache model: keys ``K`` are the few-shot images' L2-normalised features (averaged over
augmented views, then normalised again), values ``V`` their one-hot labels. For features ``f``::

    A = exp(−β · (1 − f Kᵀ))                 (affinity of f to every cached image)
    logits = scale · f Wᵀ + α · A V           (W: the zero-shot text head, scale: the CLIP's logit scale)

Tip-Adapter is training-free; α and β are searched on validation data over the authors' grid
(``steps`` evenly spaced values from 0.1 up to, not including, ``scale``). The grid's upper ends
and the starting α grow as zero-shot gets weaker, as in the authors' per-data-set configs
(:func:`search_range`: ImageNet and Pets [7, 3] from α 1, DTD [13, 13] and EuroSAT [12, 10] from
α 2, FGVC [30, 30] from α 5), here chosen from the zero-shot accuracy on the validation data. The
zero-shot term is at CLIP's logit scale 100 (the authors' ``100. * features @ clip_weights``),
whatever scale the CLIP learned. Tip-Adapter-F makes the
keys trainable, starting from ``K``: AdamW (lr 1e-3, eps 1e-4), cosine schedule over every step,
20 epochs of batch 256, cross-entropy on the logits at the initial α, β (one augmented view of
the few-shot images per epoch); then α, β are searched again with the trained keys.

Deviation from the authors' script: Tip-Adapter-F keeps the epoch with the best *validation*
accuracy (the script keeps the best *test* epoch); everything is chosen on validation here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ..errors import InvalidInputError
from .heads import FeatureHead, accuracy_of, one_hot, register_head

#: Upper ends of the (β, α) grids and their numbers of steps (the authors' ImageNet search).
SEARCH_SCALE: tuple[float, float] = (7.0, 3.0)
SEARCH_STEPS: tuple[int, int] = (200, 20)
INIT_BETA, INIT_ALPHA = 1.0, 1.0
#: CLIP's logit scale, used for the zero-shot term (the authors' 100).
ZERO_SHOT_SCALE = 100.0
#: (lowest validation zero-shot accuracy, (β, α) grid upper ends, starting α), strongest zero-shot first:
#: the authors' configs for ImageNet / Pets (zero-shot 60 / 86 %), DTD / EuroSAT (42 / 38 %) and FGVC (17 %).
SEARCH_RANGES: tuple[tuple[float, tuple[float, float], float], ...] = (
    (0.5, (7.0, 3.0), 1.0),
    (0.3, (13.0, 13.0), 2.0),
    (0.0, (30.0, 30.0), 5.0),
)


def search_range(zero_shot_accuracy: float) -> tuple[tuple[float, float], float]:
    """The (β, α) grid upper ends and the starting α for a task whose zero-shot accuracy is ``zero_shot_accuracy``."""
    for lowest, scale, alpha in SEARCH_RANGES:
        if zero_shot_accuracy >= lowest:
            return scale, alpha
    return SEARCH_RANGES[-1][1], SEARCH_RANGES[-1][2]


@register_head
@dataclass
class TipAdapterHead(FeatureHead):
    """The cache model: ``scale · f Wᵀ + α · exp(−β(1 − f Kᵀ)) V``."""

    rule: ClassVar[str] = "tip_adapter"
    keys: torch.Tensor        # [M, D] cached features (trainable in Tip-Adapter-F)
    values: torch.Tensor      # [M, C] one-hot labels of the cache
    text_head: torch.Tensor   # [C, D] zero-shot head
    scale: float = 100.0
    alpha: float = INIT_ALPHA
    beta: float = INIT_BETA

    @property
    def dim(self) -> int:
        return int(self.keys.shape[1])

    def cache_logits(self, features: torch.Tensor, beta: float | None = None) -> torch.Tensor:
        beta = self.beta if beta is None else beta
        affinity = features.float() @ self.keys.float().T
        return torch.exp(-beta * (1.0 - affinity)) @ self.values.float()

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        zero_shot = self.scale * features.float() @ self.text_head.float().T
        return zero_shot + self.alpha * self.cache_logits(features)


def _grid(upper: float, steps: int) -> list[float]:
    return [i * (upper - 0.1) / steps + 0.1 for i in range(steps)]


def search_alpha_beta(
    head: TipAdapterHead,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    scale: tuple[float, float] = SEARCH_SCALE,
    steps: tuple[int, int] = SEARCH_STEPS,
) -> tuple[float, float, float]:
    """The (α, β) of the authors' grid with the best validation accuracy (first best kept).

    Returns:
        ``(alpha, beta, val_accuracy)``.
    """
    with torch.no_grad():
        zero_shot = head.scale * val_features.float() @ head.text_head.float().T
        affinity = val_features.float() @ head.keys.float().T
        alphas = torch.tensor(_grid(scale[1], steps[1]))
        best = (head.alpha, head.beta, -1.0)
        labels = val_labels.long()
        for beta in _grid(scale[0], steps[0]):
            cache = torch.exp(-beta * (1.0 - affinity)) @ head.values.float()          # [N, C]
            logits = zero_shot[None] + alphas[:, None, None] * cache[None]              # [A, N, C]
            accs = (logits.argmax(dim=2) == labels[None]).float().mean(dim=1)          # [A]
            i = int(accs.argmax())
            if float(accs[i]) > best[2]:
                best = (float(alphas[i]), float(beta), float(accs[i]))
    return best


def _cache(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys (views averaged, normalised) and one-hot values; ``features`` is ``[N, D]`` or ``[views, N, D]``."""
    views = features if features.dim() == 3 else features[None]
    if sorted(set(labels.tolist())) != list(range(num_classes)):
        raise InvalidInputError(f"the cache needs few-shot images of all {num_classes} classes")
    return F.normalize(views.float().mean(dim=0), dim=-1), one_hot(labels, num_classes)


def fit_tip_adapter(
    features: torch.Tensor,
    labels: torch.Tensor,
    text_head: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    scale: float = ZERO_SHOT_SCALE,
    search_scale: tuple[float, float] | None = None,
    search_steps: tuple[int, int] = SEARCH_STEPS,
) -> tuple[TipAdapterHead, dict]:
    """Training-free Tip-Adapter with α, β searched on validation.

    Args:
        features: few-shot features ``[N, D]``, or ``[views, N, D]`` for augmented views (averaged into the keys).
        labels: their labels ``[N]``.
        text_head: the zero-shot head ``[C, D]`` (L2-normalised rows).
        val_features, val_labels: validation data for the search.
        scale: the zero-shot logit scale (CLIP's 100).
        search_scale, search_steps: the (β, α) grids (``search_scale`` None: :func:`search_range` of the
            validation zero-shot accuracy).

    Returns:
        ``(head, info)`` with ``info = {"alpha", "beta", "val_accuracy", "search_scale", "zero_shot_val"}``.
    """
    keys, values = _cache(features, labels, text_head.shape[0])
    head = TipAdapterHead(keys, values, text_head.float(), float(scale))
    zero_shot_val = _zero_shot_accuracy(head, val_features, val_labels)
    search_scale = search_scale or search_range(zero_shot_val)[0]
    head.alpha, head.beta, val_acc = search_alpha_beta(head, val_features, val_labels, search_scale, search_steps)
    return head, {"alpha": head.alpha, "beta": head.beta, "val_accuracy": val_acc, "search_scale": search_scale,
                  "zero_shot_val": zero_shot_val}


def _zero_shot_accuracy(head: TipAdapterHead, features: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return accuracy_of(head.scale * features.float() @ head.text_head.float().T, labels)


def fit_tip_adapter_f(
    features: torch.Tensor,
    labels: torch.Tensor,
    text_head: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    scale: float = ZERO_SHOT_SCALE,
    epochs: int = 20,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
    search_scale: tuple[float, float] | None = None,
    search_steps: tuple[int, int] = SEARCH_STEPS,
) -> tuple[TipAdapterHead, dict]:
    """Tip-Adapter-F: fine-tune the cache keys, keep the best validation epoch, then search α, β.

    Args:
        features: ``[N, D]`` or ``[views, N, D]``; the keys start from the views' mean, and epoch ``e``
            trains on view ``e mod views``.
        (others as :func:`fit_tip_adapter`), epochs, lr, batch_size: the authors' training settings.
        seed: the shuffling seed.

    Training starts from β = 1 and the α of :func:`search_range` (the authors' ``init_alpha``).

    Returns:
        ``(head, info)`` with ``info = {"alpha", "beta", "val_accuracy", "best_epoch", "history", "search_scale",
        "zero_shot_val"}``.
    """
    views = features.float() if features.dim() == 3 else features.float()[None]
    keys, values = _cache(views, labels, text_head.shape[0])
    head = TipAdapterHead(keys, values, text_head.float(), float(scale))
    zero_shot_val = _zero_shot_accuracy(head, val_features, val_labels)
    default_scale, head.alpha = search_range(zero_shot_val)
    search_scale = search_scale or default_scale
    weight = torch.nn.Parameter(keys.clone())
    optimizer = torch.optim.AdamW([weight], lr=lr, eps=1e-4)
    n = views.shape[1]
    steps_per_epoch = -(-n // batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    best_acc, best_epoch, best_keys, history = -1.0, -1, keys.clone(), []
    for epoch in range(epochs):
        view = views[epoch % len(views)]
        order = torch.randperm(n, generator=generator)
        losses = []
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            f = view[batch]
            affinity = f @ weight.T
            cache = torch.exp(-head.beta * (1.0 - affinity)) @ values
            logits = scale * f @ head.text_head.T + head.alpha * cache
            loss = F.cross_entropy(logits, labels[batch].long())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        with torch.no_grad():
            head.keys = weight.detach().clone()
            val_acc = accuracy_of(head.logits(val_features), val_labels)
        history.append({"epoch": epoch + 1, "loss": sum(losses) / len(losses), "val": val_acc})
        if val_acc > best_acc:
            best_acc, best_epoch, best_keys = val_acc, epoch + 1, head.keys.clone()
    head.keys = best_keys
    head.alpha, head.beta, val_acc = search_alpha_beta(head, val_features, val_labels, search_scale, search_steps)
    return head, {"alpha": head.alpha, "beta": head.beta, "val_accuracy": val_acc, "best_epoch": best_epoch,
                  "history": history, "search_scale": search_scale, "zero_shot_val": zero_shot_val}
