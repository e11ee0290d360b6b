"""Heads on L2-normalised image features: ``logits(features) -> [N, C]``, saved as named tensors.

A head is the *inference rule* of a classifier. The kit's rules:

* ``cosine`` — ``scale · f @ W.T`` with an L2-normalised ``[C, D]`` class-embedding head (zero-shot,
  FLYP, FLYP-ens, MMFT's caption prototypes);
* ``linear`` — ``f @ W.T + b`` (the ``ce`` classifier, the logistic-regression probe);
* ``tip_adapter`` and ``lp_pp`` — see :mod:`~mmft_kit.baselines.tip_adapter` and :mod:`~mmft_kit.baselines.lp_pp`.

:data:`HEADS` maps a rule name to its class, so a saved head (``rule`` + :meth:`FeatureHead.state`)
rebuilds with :func:`head_from_state`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch

from ..errors import InvalidInputError


@dataclass
class FeatureHead:
    """Base of the heads: subclasses are dataclasses of tensors and floats with a ``logits`` rule."""

    rule: ClassVar[str] = ""

    def logits(self, features: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Class logits ``[N, C]`` of L2-normalised image features ``[N, D]``."""
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        return int(self.logits(torch.zeros(1, self.dim)).shape[1])

    @property
    def dim(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def state(self) -> dict[str, torch.Tensor]:
        """Every field as a tensor (floats become 0-d tensors), for ``torch.save`` / safetensors."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = value.detach().cpu().contiguous() if torch.is_tensor(value) else torch.tensor(float(value))
        return out

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> "FeatureHead":
        kwargs = {}
        for f in fields(cls):
            if f.name not in state:
                continue
            value = state[f.name]
            kwargs[f.name] = float(value) if f.type in ("float", float) else value.float()
        return cls(**kwargs)


@dataclass
class CosineHead(FeatureHead):
    """``scale · f @ weight.T``: a ``[C, D]`` class-embedding head at the CLIP's logit scale."""

    rule: ClassVar[str] = "cosine"
    weight: torch.Tensor
    scale: float = 100.0

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * features.float() @ self.weight.float().T


@dataclass
class LinearHead(FeatureHead):
    """``f @ weight.T + bias``: an affine classifier on the features."""

    rule: ClassVar[str] = "linear"
    weight: torch.Tensor
    bias: torch.Tensor | None = None

    @property
    def dim(self) -> int:
        return int(self.weight.shape[1])

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        out = features.float() @ self.weight.float().T
        return out if self.bias is None else out + self.bias.float()


#: Rule name → head class (extended by the modules that define more heads).
HEADS: dict[str, type[FeatureHead]] = {CosineHead.rule: CosineHead, LinearHead.rule: LinearHead}


def register_head(cls: type[FeatureHead]) -> type[FeatureHead]:
    """Class decorator: make ``cls`` loadable by its ``rule`` name."""
    HEADS[cls.rule] = cls
    return cls


def head_from_state(rule: str, state: dict[str, torch.Tensor]) -> FeatureHead:
    """Rebuild a saved head from its rule name and tensors."""
    if rule not in HEADS:
        raise InvalidInputError(f"unknown head rule {rule!r}; known rules: {sorted(HEADS)}")
    return HEADS[rule].from_state(state)


def accuracy_of(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy in ``[0, 1]``."""
    return float((logits.argmax(dim=1) == labels.to(logits.device)).float().mean())


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Float one-hot rows ``[N, C]``."""
    return torch.nn.functional.one_hot(labels.long(), num_classes).float()
