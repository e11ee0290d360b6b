"""Task metrics, all "lower is better", as the PaRe and ORCA papers report them."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score

from ..errors import InvalidInputError

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def one_minus_auroc(logits: torch.Tensor, y: torch.Tensor) -> float:
    """1 − AUROC of softmax scores; one-vs-rest macro average for more than two classes."""
    probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
    labels = y.cpu().numpy()
    if len(np.unique(labels)) < 2:
        raise InvalidInputError("AUROC needs both classes present in the evaluated split")
    if probs.shape[1] == 2:
        return float(1.0 - roc_auc_score(labels, probs[:, 1]))
    classes = np.arange(probs.shape[1])
    return float(1.0 - roc_auc_score(labels, probs, multi_class="ovr", average="macro", labels=classes))


def one_minus_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Classification error rate."""
    return float((logits.argmax(dim=1) != y).float().mean())


def one_minus_macro_f1(logits: torch.Tensor, y: torch.Tensor) -> float:
    """1 − macro-averaged F1."""
    return float(1.0 - f1_score(y.cpu().numpy(), logits.argmax(dim=1).cpu().numpy(), average="macro"))


def relative_l2_per_sample(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``‖pred − y‖₂ / ‖y‖₂`` per sample (the Darcy-flow loss and metric of FNO, ORCA and PaRe)."""
    diff = (pred - y).reshape(len(y), -1).norm(dim=1)
    return diff / y.reshape(len(y), -1).norm(dim=1).clamp_min(1e-12)


def relative_l2(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Mean relative L2 error over samples."""
    return float(relative_l2_per_sample(pred.float(), y.float()).mean())


def rmse(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Root mean squared error."""
    return float(((pred.float() - y.float()) ** 2).mean().sqrt())


#: Metric name → function.
METRICS: dict[str, Metric] = {
    "1-auroc": one_minus_auroc,
    "1-accuracy": one_minus_accuracy,
    "1-macro_f1": one_minus_macro_f1,
    "relative_l2": relative_l2,
    "rmse": rmse,
}


def get_metric(name: str) -> Metric:
    """Look a metric up by name (see :data:`METRICS`)."""
    if name not in METRICS:
        raise InvalidInputError(f"unknown metric {name!r}; choose one of {sorted(METRICS)}")
    return METRICS[name]
