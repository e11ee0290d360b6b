"""PaRe: λ and the losses over training, and the gate's choices."""

from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .images import as_picture


def pare_curves(runs: Mapping[str, Any]) -> Figure:
    """Per run (a ``RunResult`` of :func:`mmft_kit.pare.fit`): λ = k / N, training loss and validation metric
    per epoch."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
    metric = "metric"
    for label, run in runs.items():
        epochs = [e.epoch for e in run.history]
        metric = run.metric
        if any(e.k for e in run.history):
            axes[0].plot(epochs, [e.lam for e in run.history], marker="o", ms=3, label=label)
        axes[1].plot(epochs, [e.train_loss for e in run.history], marker="o", ms=3, label=label)
        axes[2].plot(epochs, [e.val_metric for e in run.history], marker="o", ms=3, label=label)
    axes[0].set(title="λ = k / N (share of replaced patches)", xlabel="epoch", ylabel="λ", ylim=(0, None))
    axes[1].set(title="training loss", xlabel="epoch")
    axes[2].set(title=f"validation {metric} (lower is better)", xlabel="epoch")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
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
