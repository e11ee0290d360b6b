"""PaRe plots: data in, figure out (temporary home; moves into ``mmft_kit.viz`` at merge).

Every function takes :class:`~mmft_kit.records.RunResult` objects of :func:`mmft_kit.pare.fit` (or
their saved dicts read back with ``RunResult.from_dict``) and returns a matplotlib figure.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .records import RunResult

#: Per-epoch figures of :class:`~mmft_kit.pare.diagnostics.GateMonitor` drawn by :func:`gate_diagnostics`.
DIAGNOSTICS = (("gate_weight_change", "relative weight change ‖θ − θ₀‖ / ‖θ₀‖"),
               ("gate_rank_corr", "rank correlation with initial scores"),
               ("source_acc_mixed", "source head accuracy on mixed inputs"),
               ("gate_auroc", "gate AUROC for informative tokens"))


def _series(run: RunResult, key: str) -> tuple[list[int], list[float]]:
    points = [(e.epoch, e.extra.get(key)) for e in run.history]
    points = [(x, y) for x, y in points if y is not None]
    return [x for x, _ in points], [y for _, y in points]


def gate_diagnostics(runs: Mapping[str, RunResult]) -> Figure:
    """Per labelled run: the gate's weight change, rank correlation, source accuracy on mixed inputs,
    gate AUROC (where the task has ground truth), and target / source score spread, per epoch.

    Args:
        runs: label → a PaRe run (``pare`` or ``pare_random_gate``).

    Returns:
        A figure of five panels.
    """
    fig, axes = plt.subplots(1, 5, figsize=(19, 3.4))
    for label, run in runs.items():
        for ax, (key, title) in zip(axes, DIAGNOSTICS):
            xs, ys = _series(run, key)
            if ys:
                ax.plot(xs, ys, marker="o", ms=3, label=label)
            ax.set(title=title, xlabel="epoch")
        for key, style in (("gate_target_std", "-"), ("gate_source_std", "--")):
            xs, ys = _series(run, key)
            if ys:
                axes[4].plot(xs, ys, style, marker="o", ms=3, label=f"{label} ({key.split('_')[1]})")
    axes[4].set(title="score spread (std) of target / source tokens", xlabel="epoch")
    axes[3].axhline(0.5, color="grey", lw=0.8, ls=":")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def score_maps(runs: Mapping[str, RunResult], informative: Sequence[int] | None = None) -> Figure:
    """Per labelled run: the mean gate score of every target position (columns) after every epoch (rows).

    Args:
        runs: label → a PaRe run whose epochs carry ``gate_target_by_token``.
        informative: positions that carry the label (marked with a triangle), when known.

    Returns:
        One heat map per run, scores centred per epoch so the ranking over positions shows.
    """
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.6), squeeze=False)
    for ax, (label, run) in zip(axes[0], runs.items()):
        grid = np.array([e.extra["gate_target_by_token"] for e in run.history])
        grid = grid - grid.mean(axis=1, keepdims=True)
        limit = float(np.abs(grid).max()) or 1.0
        image = ax.imshow(grid, aspect="auto", cmap="coolwarm", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set(title=label, xlabel="target token position", ylabel="epoch")
        for position in informative or ():
            ax.plot(position, -0.9, marker="v", color="black", ms=6, clip_on=False)
        fig.colorbar(image, ax=ax, fraction=0.046, label="score − epoch mean")
    fig.suptitle("Gate score per token position over training (▼: informative tokens; low scores are replaced)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def mechanism_auroc(rows: Sequence[Mapping]) -> Figure:
    """Final gate AUROC per variant and seed (``rows`` of ``variant``, ``seed``, ``auroc``), chance marked."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(variants), 3.4))
    for i, variant in enumerate(variants):
        values = [r["auroc"] for r in rows if r["variant"] == variant]
        ax.scatter(np.full(len(values), i, dtype=float), values, alpha=0.7)
        ax.plot([i - 0.25, i + 0.25], [np.mean(values)] * 2, color="black")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_xticks(range(len(variants)), variants)
    ax.set(ylabel="gate AUROC (informative vs noise)", ylim=(0, 1), title="What the gate learned (mechanism task)")
    fig.tight_layout()
    return fig
