"""PaRe: λ and the losses over training, the gate's choices, its diagnostics and score maps.

The runs are :class:`~mmft_kit.records.RunResult` objects of :func:`mmft_kit.pare.fit` (or their saved dicts read
back with ``RunResult.from_dict``); PaRe's per-epoch figures are in ``EpochRecord.extra``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..records import RunResult
from .images import as_picture
from .style import chance_band, describe_runs, plot_series


#: Per-epoch figures of :class:`~mmft_kit.pare.diagnostics.GateMonitor` drawn by :func:`gate_diagnostics`,
#: with each measure's range (None: open).
DIAGNOSTICS = (("gate_weight_change", "relative weight change ‖θ − θ₀‖ / ‖θ₀‖", (0.0, None)),
               ("gate_rank_corr", "rank correlation with initial scores", (-1.05, 1.05)),
               ("source_acc_mixed", "source head accuracy on mixed inputs", (0.0, 1.0)),
               ("gate_auroc", "gate AUROC for informative tokens", (0.0, 1.0)))


def _series(run: RunResult, key: str) -> tuple[list[int], list[float]]:
    """The epochs where ``key`` (``"val"`` or a key of ``extra``) has a value, and those values."""
    points = [(e.epoch, e.val if key == "val" else e.extra.get(key)) for e in run.history]
    points = [(x, y) for x, y in points if y is not None]
    return [x for x, _ in points], [y for _, y in points]


def gate_diagnostics(runs: Mapping[str, RunResult], auroc_chance: tuple[float, float] | None = None,
                     title: str = "") -> Figure:
    """Per labelled run: the gate's weight change, rank correlation, source accuracy on mixed inputs,
    gate AUROC (where the task has ground truth), and target / source score spread, per epoch.

    Args:
        runs: label → a PaRe run (``pare`` or ``pare_random_gate``).
        auroc_chance: the range a random gate's AUROC falls in for one run
            (:func:`mmft_kit.chance.auroc_chance_band`), shaded on the AUROC panel; None: only 0.5 is marked.
        title: the figure's title (task, seed).

    Returns:
        A figure of five panels; runs with equal curves are marked so in the legends.
    """
    fig, axes = plt.subplots(1, 5, figsize=(19, 3.6))
    for ax, (key, panel, limits) in zip(axes, DIAGNOSTICS):
        plot_series(ax, [(label, *_series(run, key)) for label, run in runs.items() if _series(run, key)[1]])
        ax.set(title=panel, xlabel="epoch", ylim=limits)
    spreads = [(f"{label} ({key.split('_')[1]})", *_series(run, key)) for label, run in runs.items()
               for key in ("gate_target_std", "gate_source_std") if _series(run, key)[1]]
    plot_series(axes[4], spreads)
    axes[4].set(title="score spread (std) of target / source tokens", xlabel="epoch")
    if auroc_chance is not None:
        chance_band(axes[3], auroc_chance, f"chance, one run (95 %: {auroc_chance[0]:.2f}–{auroc_chance[1]:.2f})")
    else:
        axes[3].axhline(0.5, color="grey", lw=0.8, ls=":")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
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
        ax.set(xlabel="target token position", ylabel="epoch")
        ax.set_title(label, pad=12)
        for position in informative or ():
            ax.plot(position, -0.9, marker="v", color="black", ms=6, clip_on=False)
        ax.set_ylim(len(grid) - 0.5, -0.5)  # the markers sit above the map, outside the axes
        ax.yaxis.get_major_locator().set_params(integer=True)
        fig.colorbar(image, ax=ax, fraction=0.046, label="score − epoch mean")
    fig.suptitle("Gate score per token position over training (▼: informative tokens; low scores are replaced)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def mechanism_auroc(rows: Sequence[Mapping], auroc_chance: tuple[float, float] | None = None) -> Figure:
    """Final gate AUROC per variant and seed (``rows`` of ``variant``, ``seed``, ``auroc``): the runs as dots,
    their mean as a bar, the number of seeds under each variant, and chance.

    Args:
        rows: one mapping per run.
        auroc_chance: the range a random gate's AUROC falls in for one run
            (:func:`mmft_kit.chance.auroc_chance_band`), shaded; None: only 0.5 is marked.
    """
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(variants), 3.6))
    counts = []
    for i, variant in enumerate(variants):
        values = [r["auroc"] for r in rows if r["variant"] == variant]
        counts.append(len(values))
        ax.scatter(np.full(len(values), i, dtype=float), values, alpha=0.7, zorder=3)
        ax.plot([i - 0.25, i + 0.25], [np.mean(values)] * 2, color="black", zorder=3)
    if auroc_chance is not None:
        chance_band(ax, auroc_chance, "chance, one run (95 %)")
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_xticks(range(len(variants)), [f"{v}\n(n = {n})" for v, n in zip(variants, counts)])
    ax.set(ylabel="gate AUROC (informative vs noise)", ylim=(0, 1))
    ax.set_title(f"What the gate learned (mechanism task)\n{describe_runs(seeds=[r['seed'] for r in rows])}",
                 fontsize=9)
    fig.tight_layout()
    return fig


def pare_curves(runs: Mapping[str, RunResult], title: str = "") -> Figure:
    """Per run of :func:`mmft_kit.pare.fit`: λ = k / N, training loss and validation metric per epoch.

    Args:
        runs: label → a PaRe run; its epochs carry ``k`` and ``lam`` in ``extra``.
        title: the figure's title (task, seeds).

    Returns:
        Three panels; λ only for runs that replace patches. Every run has its own line style and
        marker, and a run whose curve equals an earlier one's says so in the legend.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    metric = next((run.metric for run in runs.values()), "metric")
    plot_series(axes[0], [(label, [e.epoch for e in run.history], [e.extra["lam"] for e in run.history])
                          for label, run in runs.items() if any(e.extra.get("k") for e in run.history)])
    plot_series(axes[1], [(label, [e.epoch for e in run.history], [e.loss for e in run.history])
                          for label, run in runs.items()])
    plot_series(axes[2], [(label, *_series(run, "val")) for label, run in runs.items()])
    axes[0].set(title="λ = k / N (share of replaced patches)", xlabel="epoch", ylabel="λ", ylim=(0, 1))
    axes[1].set(title="training loss", xlabel="epoch")
    axes[2].set(title=f"validation {metric} (lower is better)", xlabel="epoch")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _draw_tokens(ax, sample: torch.Tensor, layout: tuple, patch: tuple, scores: torch.Tensor,
                 chosen: torch.Tensor, colour: str) -> None:
    """One sample with its gate scores as a heat overlay and the chosen tokens outlined."""
    from matplotlib.patches import Rectangle

    if layout[0] == "grid":
        gh, gw = layout[1:]
        ax.imshow(as_picture(sample), cmap="gray", interpolation="nearest")
        heat = scores.reshape(gh, gw).numpy()
        ax.imshow(heat, cmap="magma", alpha=0.35, interpolation="nearest",
                  extent=(-0.5, gw * patch[1] - 0.5, gh * patch[0] - 0.5, -0.5))
        for index in torch.nonzero(chosen > 0.5).flatten().tolist():
            r, c = divmod(index, gw)
            ax.add_patch(Rectangle((c * patch[1] - 0.5, r * patch[0] - 0.5), patch[1], patch[0], fill=False,
                                   edgecolor=colour, linewidth=1.6))
        ax.set_xlim(-0.5, sample.shape[-1] - 0.5)
        ax.set_ylim(sample.shape[-2] - 0.5, -0.5)
        ax.axis("off")
    elif layout[0] == "seq":
        stride = patch[0]
        for channel in sample.numpy():
            ax.plot(channel, lw=0.6)
        for index in torch.nonzero(chosen > 0.5).flatten().tolist():
            ax.axvspan(index * stride, (index + 1) * stride, color=colour, alpha=0.3)
        ax.set_yticks([])
    else:  # one token per feature
        colours = [colour if c > 0.5 else "lightgrey" for c in chosen.tolist()]
        ax.bar(np.arange(len(sample)), sample.numpy(), color=colours)
        ax.set_xlabel("feature")


def gate_figure(view) -> Figure:
    """Top row: source images with the patches the gate takes (cyan); bottom row: target samples with the
    slots those patches replace (red), from a :class:`mmft_kit.pare.inspect.GateView`. The heat overlay is
    the gate score of every patch."""
    n = len(view.targets)
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 5.0), squeeze=False)
    for i in range(n):
        _draw_tokens(axes[0, i], view.sources[i], view.source_layout, view.source_patch, view.source_scores[i],
                     view.taken[i], "cyan")
        _draw_tokens(axes[1, i], view.targets[i], view.target_layout, view.target_patch, view.target_scores[i],
                     view.replaced[i], "red")
    axes[0, 0].set_title("source: patches taken", fontsize=9, loc="left")
    axes[1, 0].set_title("target: slots replaced", fontsize=9, loc="left")
    fig.suptitle(f"gate choices for k = {view.k} replaced patches", fontsize=11)
    fig.tight_layout()
    return fig


def steering(runs: Mapping[str, RunResult], uniform_share: float) -> Figure:
    """Per labelled mechanism run: the share of informative tokens among the replaced slots per epoch, under the
    deterministic top-k and under the Gumbel draw, against uniform selection (``uniform_share``)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, (key, panel) in zip(axes, (("informative_replaced", "deterministic top-k by the gate"),
                                       ("informative_replaced_gumbel", "Gumbel draw (the early epochs' selection)"))):
        plot_series(ax, [(label, *_series(run, key)) for label, run in runs.items() if _series(run, key)[1]])
        ax.axhline(uniform_share, color="grey", ls=":", lw=1, label=f"uniform selection ({uniform_share:.2f})")
        ax.set(title=panel, xlabel="epoch", ylim=(0, 1))
        ax.legend(fontsize=7)
    axes[0].set_ylabel("informative share of replaced slots")
    fig.suptitle("Does the gate steer? (lower: informative tokens spared)", fontsize=10)
    fig.tight_layout()
    return fig


def paired_intervals(intervals: Mapping[str, Mapping], bound: float, metric: str = "test 1 − accuracy") -> Figure:
    """Paired differences with their 95 % intervals (``intervals``: name → ``mean``, ``low``, ``high``, ``n``),
    with 0 and the bound −``bound`` a pre-registered rule reads them against."""
    names = list(intervals)
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.7 * len(names)))
    for i, name in enumerate(names):
        row = intervals[name]
        ax.plot([row["low"], row["high"]], [i, i], color=f"C{i}", lw=2.5)
        ax.plot(row["mean"], i, "o", color=f"C{i}")
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(-bound, color="grey", ls="--", lw=1, label=f"−{bound:g}: the gain the bounded null excludes")
    ax.set_yticks(range(len(names)), [f"{n}\n(n = {intervals[n]['n']})" for n in names])
    ax.set(xlabel=f"paired difference of {metric} (negative: first arm better)", ylim=(-0.6, len(names) - 0.4))
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
