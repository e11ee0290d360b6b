"""Robustness to distribution shift: in-distribution against shifted accuracy, and the WiSE-FT
curves on both. Data in (the numbers a run's ``extra`` holds), figure out; nothing is loaded here.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..errors import InvalidInputError
from .style import describe_runs

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
               shifted_key: str = "shifted", *, dataset: str | None = None, shots: int | str | None = None,
               seeds: Sequence[int] | None = None) -> Figure:
    """Bars of in-distribution and mean shifted accuracy per method.

    Args:
        rows: one mapping per method (:func:`mmft_kit.sweep.shift_summary`); where a row has ``runs`` > 1
            and ``<key>_se``, the bar gets ±1 standard error.
        methods_key, test_key, shifted_key: the keys read.
        dataset, shots, seeds: what was run, for the title.

    Returns:
        The figure, titled with the data set, shots, seeds and runs per method.
    """
    if not rows:
        raise InvalidInputError("no rows to plot")
    names = [str(r[methods_key]) for r in rows]
    counts = [int(r.get("runs", 1)) for r in rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(names)), 3.7))
    for offset, key, label in ((-0.2, test_key, "in distribution"), (0.2, shifted_key, "shifted (mean)")):
        spread = [r.get(f"{key}_se") if n > 1 else None for r, n in zip(rows, counts)]
        ax.bar(x + offset, [r[key] for r in rows], 0.4, label=label,
               yerr=[np.nan if s is None else s for s in spread], capsize=4 if any(n > 1 for n in counts) else 0)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set(ylabel="accuracy", ylim=(0, 1.05))
    ax.set_title("in-distribution and shifted accuracy" + (" (±1 s.e. over runs)" if max(counts) > 1 else "")
                 + f"\n{describe_runs(dataset, shots, seeds, counts)}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
