"""Extra evaluation sets of a run: shifted test sets with the run's class names, accuracy with class subsets."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from ..baselines.heads import FeatureHead, accuracy_of
from ..errors import InvalidInputError
from ..inference import encode_images
from .data import Preprocessed, preprocessed_split


def class_subset(dataset) -> list[int] | None:
    """The classes a data set's images come from when it holds only some (ImageNet-A/R), else None."""
    while dataset is not None:
        subset = getattr(dataset, "class_subset", None)
        if subset is not None:
            return list(subset)
        dataset = getattr(dataset, "dataset", None)
    return None


def masked_logits(logits: torch.Tensor, subset: Sequence[int] | None) -> torch.Tensor:
    """``logits`` with every class outside ``subset`` set to −inf (unchanged when ``subset`` is None)."""
    if subset is None:
        return logits
    masked = torch.full_like(logits, float("-inf"))
    masked[:, list(subset)] = logits[:, list(subset)]
    return masked


def head_accuracy(head: FeatureHead, features: torch.Tensor, labels: torch.Tensor,
                  subset: Sequence[int] | None = None) -> float:
    """Top-1 accuracy of ``head`` on features, restricted to ``subset`` classes when given."""
    return accuracy_of(masked_logits(head.logits(features), subset), labels)


def model_accuracy(model: nn.Module, head: FeatureHead, dataset: Preprocessed, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model``'s features through ``head`` on ``dataset`` (its class subset respected)."""
    features, labels = encode_images(model, dataset, batch_size=batch_size)
    return head_accuracy(head, features, labels, class_subset(dataset.dataset))


def load_eval_sets(names: Sequence[str], root: str | None, transform: Callable,
                   classnames: Sequence[str]) -> dict[str, Preprocessed]:
    """The ``test`` split of each named set, checked to have the run's class names."""
    sets = {}
    for name in names:
        dataset = preprocessed_split(name, root, "test", transform)
        if list(dataset.classnames) != list(classnames):
            raise InvalidInputError(
                f"evaluation set {name!r} has other class names than the run's data set "
                f"({list(dataset.classnames)[:3]}... vs {list(classnames)[:3]}...): give sets with the same classes, "
                "e.g. mmft_kit.data.shifted_variants(task)"
            )
        sets[name] = dataset
    return sets
