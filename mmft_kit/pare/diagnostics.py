"""What the gate did this epoch: how far it moved, whether its ranking changed, how it spreads scores.

:class:`GateMonitor` remembers the gate's weights and its scores on a fixed probe set at the start
of training and, after each epoch, reports (all JSON-able, for ``EpochRecord.extra``):

* ``gate_weight_change``: ‖θ − θ₀‖ / ‖θ₀‖ of the gate's weights and bias;
* ``gate_rank_corr``: Spearman correlation of the probe tokens' scores with their initial scores
  (1.0: the gate still ranks tokens as it did at random initialisation);
* ``gate_target_by_token``: the mean score of each target position (a score map over training);
* ``gate_target_q`` / ``gate_source_q``: score quantiles (:data:`QUANTILES`) of target and source
  tokens, and ``gate_target_std`` / ``gate_source_std`` their spread;
* ``source_acc_mixed``: the source head's accuracy on mixed probe inputs at this epoch's ``k``
  (top-k selection; ``None`` when nothing is replaced or the source head is not trained);
* ``gate_auroc``: on tasks with known informative tokens, the AUROC of the target scores for them.
"""

from __future__ import annotations

import torch
from scipy.stats import spearmanr

from .mechanism import auroc_of_scores
from .replace import replace_patches, select_patches

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _flat_gate(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.gate.parameters()]).cpu().clone()


def _summary(scores: torch.Tensor, prefix: str) -> dict:
    flat = scores.flatten().float()
    return {f"{prefix}_q": torch.quantile(flat, torch.tensor(QUANTILES)).tolist(), f"{prefix}_std": float(flat.std())}


class GateMonitor:
    """Per-epoch gate diagnostics against the state at construction time.

    Args:
        model: the :class:`~mmft_kit.pare.model.PaReModel` before training.
        x_probe: target inputs to score (a fixed validation slice).
        source_probe: ``(images, labels)`` of source samples, or ``None`` (no source: fewer figures).
        informative: ``(N,)`` booleans of the informative target tokens, when known.
        source_accuracy: whether to report ``source_acc_mixed`` (off where the source head is not
            trained: the dense tasks' mask objective).
    """

    def __init__(self, model, x_probe: torch.Tensor, source_probe: tuple[torch.Tensor, torch.Tensor] | None = None,
                 informative: torch.Tensor | None = None, source_accuracy: bool = True) -> None:
        self.x_probe, self.source_probe, self.informative = x_probe, source_probe, informative
        self.source_accuracy = source_accuracy
        self.device = next(model.parameters()).device
        self.initial_weights = _flat_gate(model)
        self.initial_scores = self.scores(model)[0]

    @torch.no_grad()
    def scores(self, model) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Gate scores ``(B, N)`` of the target probe and ``(B, M)`` of the source probe (or ``None``)."""
        model.eval()
        target = model.gate(model.embed(self.x_probe.to(self.device))).cpu()
        source = None
        if self.source_probe is not None and model.source_embedder is not None:
            source = model.gate(model.embed_source(self.source_probe[0].to(self.device))).cpu()
        return target, source

    @torch.no_grad()
    def measure(self, model, k: int) -> dict:
        """The diagnostics after an epoch whose replacement count was ``k``."""
        target, source = self.scores(model)
        weights = _flat_gate(model)
        out = {"gate_weight_change": float((weights - self.initial_weights).norm() / self.initial_weights.norm()),
               "gate_rank_corr": float(spearmanr(target.flatten(), self.initial_scores.flatten()).statistic),
               "gate_target_by_token": target.mean(dim=0).tolist(), **_summary(target, "gate_target")}
        out.update(_summary(source, "gate_source") if source is not None else {})
        trained = source is not None and self.source_accuracy
        out["source_acc_mixed"] = self._source_accuracy(model, k, target, source) if trained else None
        if self.informative is not None:
            out["gate_auroc"] = auroc_of_scores(target, self.informative)
        return out

    def _source_accuracy(self, model, k: int, target: torch.Tensor, source: torch.Tensor) -> float | None:
        k = min(k, target.shape[1], source.shape[1])
        if k <= 0:
            return None
        n = min(len(target), len(source))
        images, labels = (t[:n].to(self.device) for t in self.source_probe)
        tokens = model.embed(self.x_probe[:n].to(self.device))
        keep, take = select_patches(target[:n].to(self.device), source[:n].to(self.device), k, differentiable=False)
        pooled, _ = model.encode(replace_patches(tokens, model.embed_source(images), keep, take))
        return float((model.source_head(pooled).argmax(dim=1) == labels).float().mean())
