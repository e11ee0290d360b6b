"""Robustness to distribution shift: in-distribution against shifted accuracy, and the WiSE-FT
curves on both. Data in (the numbers a run's ``extra`` holds), figure out; nothing is loaded here.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..errors import InvalidInputError

Curve = Sequence[tuple[float, float]]


def wise_ft_shift_figure(test_curve: Curve, shifted_curves: Mapping[str, Curve], title: str = "") -> Figure:
    """Accuracy along WiSE-FT's α (0: zero-shot, 1: fine-tuned) on the test split and each shifted set.

    Args:
        test_curve: ``[(α, test accuracy), ...]`` (``RunResult.wise_ft``).
        shifted_curves: set name → ``[(α, accuracy), ...]`` (``RunResult.extra["wise_ft_eval"]``).
        title: the figure's title.

    Returns:
        A figure with accuracy against α (left) and shifted against in-distribution accuracy, the
        WiSE-FT paper's picture (right).
    """
    if not test_curve:
        raise InvalidInputError("the test curve is empty: run with wise_ft=True")
    alphas, test = zip(*test_curve)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(alphas, test, marker="o", label="in distribution (test)")
    mean_shift = []
    for name, curve in shifted_curves.items():
        a, acc = zip(*curve)
        left.plot(a, acc, marker=".", label=name)
        mean_shift.append(acc)
    left.set(xlabel="WiSE-FT α (0 zero-shot → 1 fine-tuned)", ylabel="accuracy")
    left.legend(fontsize=8)
    if mean_shift:
        shift = np.mean(np.array(mean_shift), axis=0)
        right.plot(test, shift, marker="o")
        for alpha, x, y in zip(alphas, test, shift):
            right.annotate(f"{alpha:g}", (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
        right.set(xlabel="in-distribution accuracy", ylabel="mean shifted accuracy")
    right.set_title("α along the curve")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def shift_bars(rows: Sequence[Mapping[str, float]], methods_key: str = "method", test_key: str = "test",
               shifted_key: str = "shifted") -> Figure:
    """Bars of in-distribution and mean shifted accuracy per method (``rows``: one mapping per method)."""
    if not rows:
        raise InvalidInputError("no rows to plot")
    names = [str(r[methods_key]) for r in rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(names)), 3.5))
    ax.bar(x - 0.2, [r[test_key] for r in rows], 0.4, label="in distribution")
    ax.bar(x + 0.2, [r[shifted_key] for r in rows], 0.4, label="shifted (mean)")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("accuracy")
    ax.legend()
    fig.tight_layout()
    return fig
