"""What the trained gate chooses: patch scores and the replaced / taken patches on a few samples."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .replace import select_patches


@dataclass
class GateView:
    """Gate scores and the patches chosen for ``k`` replacements on a few target and source samples."""

    k: int
    targets: torch.Tensor
    sources: torch.Tensor
    target_scores: torch.Tensor
    source_scores: torch.Tensor
    replaced: torch.Tensor
    taken: torch.Tensor
    target_layout: tuple
    target_patch: tuple
    source_layout: tuple
    source_patch: tuple


def _patch_of(embedder) -> tuple:
    return tuple(getattr(embedder, "patch_size", None) or (getattr(embedder, "stride", 1),))


@torch.no_grad()
def gate_view(model, task, source, k: int, count: int = 4, start: int = 0) -> GateView:
    """Score the patches of ``count`` validation samples of ``task`` and as many source images with the
    model's gate; mark the ``k`` lowest-scored target slots and the ``k`` best source patches (top-k, as
    after the Gumbel epochs). ``k`` is clamped to the token counts.

    Args:
        model: a trained :class:`~mmft_kit.pare.PaReModel`.
        task: its target task; source: its source data.
        k: replacements to show; count: samples; start: the first sample.

    Returns:
        The scores, the marks and the token layouts the gate figure draws.
    """
    model.eval()
    device = next(model.parameters()).device
    targets = task.x_val[start: start + count]
    sources = source.images[start: start + count]
    n = min(len(targets), len(sources))
    targets, sources = targets[:n], sources[:n]
    target_scores = model.gate(model.embed(targets.to(device))).cpu()
    source_scores = model.gate(model.embed_source(sources.to(device))).cpu()
    k = int(min(max(k, 0), target_scores.shape[1], source_scores.shape[1]))
    keep, take = select_patches(target_scores, source_scores, k, differentiable=False)
    return GateView(k, targets, sources, target_scores, source_scores, 1.0 - keep, take,
                    tuple(model.embedder.layout), _patch_of(model.embedder),
                    tuple(model.source_embedder.layout), _patch_of(model.source_embedder))
