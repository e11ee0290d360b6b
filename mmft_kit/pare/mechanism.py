"""The mechanism task: a tabular task whose ground truth says which tokens matter.

``informative`` of the ``n_features`` features carry the label (``y = 1`` where their sum is
positive); the rest are independent noise. With one token per feature, a gate that has learned
what replacing a token costs scores the informative tokens above the noise tokens: the AUROC of
its scores against that ground truth (:func:`gate_auroc`) measures it, 0.5 being chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ..errors import InvalidInputError
from .config import PareConfig
from .targets import TASKS, TargetTask


def mechanism_task(n_features: int = 16, informative: int = 4, n_train: int = 512, n_val: int = 256,
                   n_test: int = 256, seed: int = 0) -> TargetTask:
    """Binary classification from ``informative`` of ``n_features`` standard-normal features.

    Args:
        n_features: features, hence tokens.
        informative: features that decide the label (at positions drawn with ``seed``).
        n_train, n_val, n_test: split sizes.
        seed: draws the informative positions and the data.

    Returns:
        A :class:`TargetTask` whose ``extra["informative"]`` lists the informative positions; metric 1 − accuracy.
    """
    if not 0 < informative < n_features:
        raise InvalidInputError(f"informative must lie in [1, {n_features - 1}]; got {informative}")
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(n_features, size=informative, replace=False))
    x = rng.standard_normal((n_train + n_val + n_test, n_features)).astype(np.float32)
    y = (x[:, positions].sum(axis=1) > 0).astype(np.int64)
    cut = (n_train, n_train + n_val)
    xs = [torch.as_tensor(part) for part in (x[: cut[0]], x[cut[0]: cut[1]], x[cut[1]:])]
    ys = [torch.as_tensor(part) for part in (y[: cut[0]], y[cut[0]: cut[1]], y[cut[1]:])]
    return TargetTask("mechanism", "classification", xs[0], ys[0], xs[1], ys[1], xs[2], ys[2], "1-accuracy", "ce", 2,
                      f"{informative} of {n_features} features decide the label, the rest are noise",
                      {"informative": positions.tolist()})


def informative_mask(task: TargetTask) -> torch.Tensor:
    """``(N,)`` booleans: which token positions carry the label (from ``task.extra["informative"]``)."""
    if "informative" not in task.extra:
        raise InvalidInputError(f"task {task.name!r} has no ground truth of informative tokens")
    mask = torch.zeros(task.x_train.shape[1], dtype=torch.bool)
    mask[task.extra["informative"]] = True
    return mask


def auroc_of_scores(scores: torch.Tensor, informative: torch.Tensor) -> float:
    """AUROC of per-token gate scores ``(B, N)`` for "informative" (positions where ``informative`` is True)."""
    labels = informative.expand_as(scores).flatten().numpy()
    return float(roc_auc_score(labels, scores.detach().flatten().float().cpu().numpy()))


@torch.no_grad()
def gate_auroc(model, task: TargetTask, split: str = "val", samples: int = 256) -> float:
    """AUROC of ``model``'s gate scores on ``samples`` inputs of ``split`` against the informative tokens."""
    model.eval()
    x = getattr(task, f"x_{split}")[:samples].to(next(model.parameters()).device)
    return auroc_of_scores(model.gate(model.embed(x)).cpu(), informative_mask(task))


TASKS["mechanism"] = mechanism_task


@dataclass(frozen=True)
class MechanismPreset:
    """The mechanism experiment's settings, read by notebook 05, ``benchmarks.pare`` and the tests.

    Args:
        task: :func:`mechanism_task`'s arguments (split sizes).
        training: the run settings every variant shares (fields of :class:`~mmft_kit.pare.config.PareConfig`).
        variants: label → (method, further settings): both gate signals trained for the whole run at ten times
            the body's learning rate (so the comparison is about the signal, not the training time), and the
            frozen random gate as the control.
    """

    task: dict[str, Any]
    training: dict[str, Any]
    variants: dict[str, tuple[str, dict[str, Any]]]

    def config(self, variant: str, **changes: Any) -> PareConfig:
        """The run config of ``variant`` with ``changes`` on top."""
        method, options = self.variants[variant]
        return PareConfig(**{"task": "mechanism", **self.training, **options, **changes, "method": method})


#: The mechanism experiment (see :class:`MechanismPreset`).
MECHANISM = MechanismPreset(
    task=dict(n_train=384, n_val=256, n_test=256),
    training=dict(epochs=10, batch_size=32, lr=1e-3, select="last"),
    variants={
        "authors": ("pare", dict(gate_signal="authors", gumbel_frac=1.0, gate_lr_scale=10.0)),
        "relaxed": ("pare", dict(gate_signal="relaxed", gumbel_frac=1.0, gate_lr_scale=10.0)),
        "random_gate": ("pare_random_gate", dict(gumbel_frac=1.0)),
    },
)
