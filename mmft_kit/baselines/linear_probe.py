"""The CLIP paper's linear probe: L2-regularised logistic regression on frozen image features.

The regularisation strength is chosen on validation data as CoOp's ``lpclip`` does it for the
CLIP paper's protocol: a coarse sweep of ``C`` over ``1e6, 1e4, …, 1e-6``, then a bisection in
log10-space between ``C_peak/10`` and ``10·C_peak`` for :data:`SEARCH_STEPS` steps, each step
keeping the better end (scikit-learn ``LogisticRegression``, lbfgs, 1000 iterations). Features
are L2-normalised as the kit computes them.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from ..errors import InvalidInputError
from .heads import LinearHead

#: The coarse sweep of the inverse regularisation strength C.
COARSE_C: tuple[float, ...] = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)
#: Bisection steps after the sweep (CoOp's lpclip uses 8).
SEARCH_STEPS = 8
MAX_ITER = 1000


def _fit(c: float, x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, max_iter=MAX_ITER, random_state=0).fit(x, y)


def _score(clf: LogisticRegression, x: np.ndarray, y: np.ndarray) -> float:
    return float((clf.predict(x) == y).mean())


def fit_linear_probe(
    features: torch.Tensor,
    labels: torch.Tensor,
    val_features: torch.Tensor,
    val_labels: torch.Tensor,
    num_classes: int,
    steps: int = SEARCH_STEPS,
) -> tuple[LinearHead, dict]:
    """Fit the probe, choosing C on the validation features.

    Args:
        features, labels: the few-shot train features ``[N, D]`` (L2-normalised) and labels ``[N]``.
        val_features, val_labels: validation features and labels (C is chosen on them, never on test).
        num_classes: C, the number of classes (every class must appear in ``labels``).
        steps: bisection steps after the coarse sweep.

    Returns:
        ``(head, info)``: a :class:`LinearHead` ``[C, D]`` with bias, and ``{"C", "val_accuracy", "searched"}``.
    """
    x, y = features.float().numpy(), labels.long().numpy()
    vx, vy = val_features.float().numpy(), val_labels.long().numpy()
    if sorted(set(y.tolist())) != list(range(num_classes)):
        raise InvalidInputError(f"the probe needs train features of all {num_classes} classes; got classes "
                                f"{sorted(set(y.tolist()))[:10]}...")
    searched: list[tuple[float, float]] = []

    def trial(c: float) -> tuple[float, LogisticRegression]:
        clf = _fit(c, x, y)
        acc = _score(clf, vx, vy)
        searched.append((c, acc))
        return acc, clf

    coarse = [trial(c) for c in COARSE_C]
    peak = int(np.argmax([acc for acc, _ in coarse]))
    best_c, (best_acc, best_clf) = COARSE_C[peak], coarse[peak]
    left, right = math.log10(best_c) - 1, math.log10(best_c) + 1
    for _ in range(steps):
        (acc_l, clf_l), (acc_r, clf_r) = trial(10 ** left), trial(10 ** right)
        if acc_l < acc_r:
            c, acc, clf, left = 10 ** right, acc_r, clf_r, (left + right) / 2
        else:
            c, acc, clf, right = 10 ** left, acc_l, clf_l, (left + right) / 2
        if acc > best_acc:
            best_c, best_acc, best_clf = c, acc, clf
    weight = torch.tensor(np.ascontiguousarray(best_clf.coef_), dtype=torch.float32)
    bias = torch.as_tensor(best_clf.intercept_, dtype=torch.float32)
    if num_classes == 2:  # scikit-learn keeps one row for two classes: logit of class 1 against class 0
        weight, bias = torch.cat([torch.zeros_like(weight), weight]), torch.cat([torch.zeros_like(bias), bias])
    head = LinearHead(weight, bias)
    return head, {"C": best_c, "val_accuracy": best_acc, "searched": searched}
