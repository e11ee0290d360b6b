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
  (the run's selection rule; ``None`` when nothing is replaced or the source head is not trained);
* ``gate_auroc``: on tasks with known informative tokens, the AUROC of the target scores for them;
* ``informative_replaced``: on those tasks, the share of informative tokens among the replaced slots at this
  epoch's ``k`` under the run's deterministic selection (chance: the informative share of the tokens), and
  ``informative_replaced_gumbel`` the same under the Gumbel draw the early epochs use.

:func:`manipulation_checks` condenses a run's history into the checks a result must pass before it counts.
"""

from __future__ import annotations

import torch
from scipy.stats import spearmanr

from typing import Callable

from .mechanism import auroc_of_scores
from .replace import replace_patches, select_patches

#: ``choose(target_tokens, source_tokens, k, gumbel)`` → ``(keep, take)``: a run's selection rule.
Chooser = Callable[[torch.Tensor, torch.Tensor, int, bool], tuple[torch.Tensor, torch.Tensor]]

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _flat_gate(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.gate.parameters()]).cpu().clone()


def _summary(scores: torch.Tensor, prefix: str) -> dict:
    flat = scores.flatten().float()
    return {f"{prefix}_q": torch.quantile(flat, torch.tensor(QUANTILES)).tolist(), f"{prefix}_std": float(flat.std())}


def gate_topk(model, tokens: torch.Tensor, src_tokens: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The gate's deterministic selection (ordered placement): drop the k lowest-scored slots, take the top-k."""
    return select_patches(model.gate(tokens), model.gate(src_tokens), k, differentiable=False)


class GateMonitor:
    """Per-epoch gate diagnostics against the state at construction time.

    Args:
        model: the :class:`~mmft_kit.pare.model.PaReModel` before training.
        x_probe: target inputs to score (a fixed validation slice).
        source_probe: ``(images, labels)`` of source samples, or ``None`` (no source: fewer figures).
        informative: ``(N,)`` booleans of the informative target tokens, when known.
        source_accuracy: whether to report ``source_acc_mixed`` (off where the source head is not
            trained: the dense tasks' mask objective).
        choose: the run's selection rule (:data:`Chooser`); default: the gate's deterministic top-k
            (:func:`gate_topk`).
    """

    def __init__(self, model, x_probe: torch.Tensor, source_probe: tuple[torch.Tensor, torch.Tensor] | None = None,
                 informative: torch.Tensor | None = None, source_accuracy: bool = True,
                 choose: Chooser | None = None) -> None:
        self.x_probe, self.source_probe, self.informative = x_probe, source_probe, informative
        self.source_accuracy, self.choose = source_accuracy, choose or (lambda t, s, k, gumbel: gate_topk(model, t, s, k))
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
        mixing = source is not None and k > 0
        out["source_acc_mixed"] = self._source_accuracy(model, k) if mixing and self.source_accuracy else None
        if self.informative is not None:
            out["gate_auroc"] = auroc_of_scores(target, self.informative)
            if mixing:
                out["informative_replaced"] = self._informative_replaced(model, k, gumbel=False)
                out["informative_replaced_gumbel"] = self._informative_replaced(model, k, gumbel=True)
        return out

    def _masks(self, model, k: int, gumbel: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Target tokens, source tokens and the ``(keep, take)`` masks of the probe at ``k``."""
        n = min(len(self.x_probe), len(self.source_probe[0]))
        tokens = model.embed(self.x_probe[:n].to(self.device))
        src_tokens = model.embed_source(self.source_probe[0][:n].to(self.device))
        k = min(k, tokens.shape[1], src_tokens.shape[1])
        keep, take = self.choose(tokens, src_tokens, k, gumbel)
        return tokens, src_tokens, keep.detach().round(), take.detach().round()

    def _source_accuracy(self, model, k: int) -> float:
        tokens, src_tokens, keep, take = self._masks(model, k, gumbel=False)
        pooled, _ = model.encode(replace_patches(tokens, src_tokens, keep, take))
        labels = self.source_probe[1][: len(tokens)].to(self.device)
        return float((model.source_head(pooled).argmax(dim=1) == labels).float().mean())

    def _informative_replaced(self, model, k: int, gumbel: bool) -> float:
        _, _, keep, _ = self._masks(model, k, gumbel)
        replaced = keep.cpu() < 0.5
        return float((replaced & self.informative).sum() / replaced.sum().clamp_min(1))


def _at(history, epoch: int, name: str):
    """``name`` of the epoch record ``epoch``, or of the nearest earlier one that has it (``None``: none has)."""
    for record in reversed(history[: epoch + 1]):
        if record.extra.get(name) is not None:
            return record.extra[name]
    return None


def manipulation_checks(history, best_epoch: int) -> dict:
    """The checks a PaRe-family result is read against: best epoch (and whether it lies before the last fifth),
    the source head's accuracy on mixed inputs at mid-run, and, on tasks with informative tokens, the share of
    them among the replaced slots at the last epoch (deterministic selection and Gumbel draw)."""
    epochs = len(history)
    return {"best_epoch": best_epoch, "epochs": epochs, "best_before_last_fifth": best_epoch < epochs - epochs // 5,
            "source_acc_mixed_mid": _at(history, epochs // 2, "source_acc_mixed"),
            "informative_replaced": _at(history, epochs - 1, "informative_replaced"),
            "informative_replaced_gumbel": _at(history, epochs - 1, "informative_replaced_gumbel")}
