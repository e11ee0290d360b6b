"""Training: learning curves, accuracy per method, the confusion matrix."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..report import mean_se
from .style import describe_runs, plot_series


def _record(entry: Any) -> dict:
    return entry if isinstance(entry, Mapping) else vars(entry)


def learning_curves(histories: Mapping[str, Sequence[Any]], title: str = "") -> Figure:
    """Training loss and validation metric per epoch, one line per run (:class:`mmft_kit.records.EpochRecord`
    or dicts with ``epoch``, ``loss``, ``val``); runs with equal curves are marked so in the legend."""
    fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(10, 3.4))
    losses, validated = [], []
    for label, history in histories.items():
        records = [_record(r) for r in history]
        if not records:
            continue
        losses.append((label, [r["epoch"] for r in records], [r["loss"] for r in records]))
        points = [(r["epoch"], r["val"]) for r in records if r.get("val") is not None]
        if points:
            validated.append((label, *zip(*points)))
    plot_series(loss_ax, losses)
    plot_series(val_ax, validated)
    loss_ax.set(title="training loss", xlabel="epoch", ylabel="loss")
    val_ax.set(title="validation", xlabel="epoch", ylabel="accuracy")
    for ax in (loss_ax, val_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


#: Axis labels of the usual keys.
_LABELS = {"test": "test accuracy", "val": "validation accuracy", "shifted": "shifted accuracy (mean)",
           "silhouette": "silhouette (−1 … 1)"}


def accuracy_figure(rows: Sequence[Mapping[str, Any]], key: str = "test", label: str = "method",
                    reference: float | None = None, reference_label: str = "zero-shot", *,
                    dataset: str | None = None, shots: int | str | None = None, seeds: Sequence[int] | None = None,
                    value_range: tuple[float, float] = (0.0, 1.0)) -> Figure:
    """Mean ``key`` per ``label`` as bars, each run as a dot, ±1 standard error where a bar has more
    than one run (the spread :func:`mmft_kit.report.aggregate` puts in the table); an optional dashed
    reference line.

    Args:
        rows: one mapping per run, with ``key``, ``label`` and (optionally) ``seed``.
        key: the value drawn; label: what groups the runs.
        reference, reference_label: a value drawn as a dashed line (the zero-shot accuracy).
        dataset, shots, seeds: what was run, for the title (``seeds`` defaults to the rows' seeds).
        value_range: the measure's range, which the axis spans (``(-1, 1)`` for a silhouette); it
            stretches for values outside it.

    Returns:
        The figure, titled with the data set, shots, seeds and runs per bar.
    """
    groups: dict[str, list[float]] = {}
    for row in rows:
        groups.setdefault(str(row[label]), []).append(float(row[key]))
    seeds = seeds if seeds is not None else [row["seed"] for row in rows if row.get("seed") is not None]
    counts = [len(v) for v in groups.values()]
    fig, ax = plt.subplots(figsize=(1.2 * len(groups) + 2.8, 3.4))
    x = np.arange(len(groups))
    means = [np.mean(v) for v in groups.values()]
    spreads = [mean_se(v)[1] if len(v) > 1 else np.nan for v in groups.values()]
    ax.bar(x, means, color=[f"C{i}" for i in range(len(groups))], alpha=0.75)
    if any(n > 1 for n in counts):
        ax.errorbar(x, means, yerr=spreads, fmt="none", ecolor="black", capsize=5, lw=1.2,
                    label="±1 s.e. over runs")
    span = value_range[1] - value_range[0]
    for i, values in enumerate(groups.values()):
        ax.scatter(np.full(len(values), i), values, color="black", s=12, zorder=3)
        top = max(values + [means[i] + (0 if np.isnan(spreads[i]) else spreads[i])])
        ax.text(i, max(top, 0.0) + 0.02 * span, f"{means[i]:.3f}", ha="center", fontsize=8)
    if reference is not None:
        ax.axhline(reference, ls="--", color="grey", label=f"{reference_label} ({reference:.3f})")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    values = [v for group in groups.values() for v in group]
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(x, list(groups))
    ylabel = _LABELS.get(key, key.replace("_", " "))
    ax.set(ylabel=ylabel, ylim=(min(value_range[0], min(values) - 0.08 * span / 2),
                                max(value_range[1] + 0.08 * span / 2, max(values) + 0.08 * span / 2)))
    ax.set_title(f"{ylabel}\n{describe_runs(dataset, shots, seeds, counts, per=label)}", fontsize=9)
    fig.tight_layout()
    return fig


def confusion_figure(y_true: Sequence[int], y_pred: Sequence[int], classnames: Sequence[str],
                     title: str = "") -> Figure:
    """Row-normalised confusion matrix (scikit-learn) with the class names."""
    from sklearn.metrics import ConfusionMatrixDisplay

    size = 1.0 + 0.55 * len(classnames)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=list(range(len(classnames))), display_labels=list(classnames), normalize="true",
        values_format=".2f", ax=ax, colorbar=False, xticks_rotation=45,
    )
    for text in ax.texts:
        text.set_fontsize(7)
    ax.set_title(title)
    fig.tight_layout()
    return fig
