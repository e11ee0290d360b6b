"""Training: learning curves, accuracy per method, the confusion matrix."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def _record(entry: Any) -> dict:
    return entry if isinstance(entry, Mapping) else vars(entry)


def learning_curves(histories: Mapping[str, Sequence[Any]]) -> Figure:
    """Training loss and validation metric per epoch, one line per run (:class:`mmft_kit.records.EpochRecord`
    or dicts with ``epoch``, ``loss``, ``val``)."""
    fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(10, 3.4))
    for label, history in histories.items():
        records = [_record(r) for r in history]
        if not records:
            continue
        epochs = [r["epoch"] for r in records]
        loss_ax.plot(epochs, [r["loss"] for r in records], marker="o", ms=3, label=label)
        validated = [(r["epoch"], r["val"]) for r in records if r.get("val") is not None]
        if validated:
            val_ax.plot(*zip(*validated), marker="o", ms=3, label=label)
    loss_ax.set(title="training loss", xlabel="epoch", ylabel="loss")
    val_ax.set(title="validation", xlabel="epoch", ylabel="accuracy")
    for ax in (loss_ax, val_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_figure(rows: Sequence[Mapping[str, Any]], key: str = "test", label: str = "method",
                    reference: float | None = None, reference_label: str = "zero-shot") -> Figure:
    """Mean ``key`` per ``label`` as bars, each run as a dot; an optional dashed reference line.
    The axis spans [0, 1] and stretches for values outside it (a silhouette can be negative)."""
    groups: dict[str, list[float]] = {}
    for row in rows:
        groups.setdefault(str(row[label]), []).append(float(row[key]))
    fig, ax = plt.subplots(figsize=(1.2 * len(groups) + 2.5, 3.2))
    x = np.arange(len(groups))
    means = [np.mean(v) for v in groups.values()]
    ax.bar(x, means, color=[f"C{i}" for i in range(len(groups))], alpha=0.75)
    for i, values in enumerate(groups.values()):
        ax.scatter(np.full(len(values), i), values, color="black", s=12, zorder=3)
        ax.text(i, max(means[i], 0.0) + 0.02, f"{means[i]:.3f}", ha="center", fontsize=8)
    if reference is not None:
        ax.axhline(reference, ls="--", color="grey", label=f"{reference_label} ({reference:.3f})")
        ax.legend(fontsize=8, loc="lower right")
    values = [v for group in groups.values() for v in group]
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(x, list(groups))
    ax.set(ylabel=key.replace("_", " "), ylim=(min(0.0, min(values) - 0.08), max(1.08, max(values) + 0.08)))
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
