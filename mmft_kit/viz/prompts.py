"""Prompt scores: a leaderboard's bars (score ± s.e. per prompt) and the cheap score against fine-tuned accuracy."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .style import MARKERS


def prompt_score_bars(rows: Sequence[Mapping], label: str = "characteristics", chance: float | None = None,
                      title: str = "") -> Figure:
    """Horizontal bars of ``score`` ± ``se`` (validation accuracy of the frozen caption-prototype head), one per
    row, labelled by ``row[label]``, with the mean caption length beside each bar and chance as a dashed line."""
    rows = list(rows)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.4))
    positions = range(len(rows))
    ax.barh(positions, [r["score"] for r in rows], xerr=[r["se"] for r in rows], color="tab:blue", alpha=0.8,
            capsize=3)
    for position, row in zip(positions, rows):
        ax.text(row["score"] + row["se"] + 0.01, position, f"{row['mean_words']:.0f} words", va="center", fontsize=8)
    ax.set_yticks(list(positions), [str(r[label])[:48] for r in rows])
    ax.invert_yaxis()
    if chance is not None:
        ax.axvline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("validation accuracy, caption prototypes on the frozen start CLIP (mean ± s.e. over draws)")
    ax.set_title(title or "prompt score")
    fig.tight_layout()
    return fig


def score_vs_finetuned(points: Mapping[str, Sequence[Mapping]], rho: Mapping[str, float] | None = None) -> Figure:
    """One panel per data set: each prompt's cheap score (x) against its fine-tuned MMFT test accuracy (y), with
    error bars (s.e. over seeds) and Spearman's ρ in the title. ``points[dataset]``: rows with ``score``, ``se``,
    ``finetuned``, ``finetuned_se`` and ``prompt``."""
    fig, axes = plt.subplots(1, len(points), figsize=(4.2 * len(points), 4), squeeze=False)
    for ax, (dataset, rows) in zip(axes[0], points.items()):
        for i, row in enumerate(rows):
            ax.errorbar(row["score"], row["finetuned"], xerr=row["se"], yerr=row["finetuned_se"],
                        marker=MARKERS[i % len(MARKERS)], linestyle="none", capsize=2, label=row["prompt"])
        ax.set_xlabel("cheap score (val, frozen CLIP)")
        ax.set_ylabel("fine-tuned MMFT (test)")
        ax.set_title(dataset + (f", ρ = {rho[dataset]:.2f}" if rho and dataset in rho else ""))
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    return fig
