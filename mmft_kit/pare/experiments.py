"""PaRe's experiments as the notebook and the benchmark run them: the mechanism variants of a preset, the
comparisons that answer PaRe's questions, and the headline figures of a run (replacement schedule, gate AUROC)."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from .config import PareConfig
from .mechanism import MECHANISM, MechanismPreset, informative_mask
from .source import SourceData
from .targets import TargetTask, get_target_task
from .train import PareRunResult, choose_slots, fit

#: The paired comparisons that answer PaRe's questions: does pretraining transfer (finetune − scratch), does PaRe
#: help (pare − finetune), and does its gate's learning matter (pare − pare_random_gate). Lower is better.
COMPARISONS: tuple[tuple[str, str], ...] = (("finetune", "scratch"), ("pare", "finetune"),
                                            ("pare", "pare_random_gate"))


def mechanism_task_of(preset: MechanismPreset = MECHANISM, seed: int = 0, **changes: Any) -> TargetTask:
    """The mechanism task of ``preset`` drawn with ``seed`` (``changes``: other split sizes)."""
    return get_target_task("mechanism", **{**preset.task, **changes, "seed": seed})


def mechanism_runs(task: TargetTask, body: nn.Module | None = None, source: SourceData | None = None,
                   preset: MechanismPreset = MECHANISM, **changes: Any) -> dict[str, PareRunResult]:
    """Every variant of ``preset`` trained on ``task`` (same seed, batches and source draws), by variant label;
    ``changes`` go into every variant's config (seed, epochs, progress, ...)."""
    return {label: fit(task, preset.config(label, **changes), body=body, source=source) for label in preset.variants}


def gate_aurocs(runs: Mapping[str, PareRunResult]) -> dict[str, float]:
    """``mechanism_auroc.LABEL``: each run's gate AUROC after its last epoch."""
    return {f"mechanism_auroc.{label}": run.history[-1].extra["gate_auroc"] for label, run in runs.items()}


def schedule_figures(run: PareRunResult) -> dict[str, Any]:
    """The replacement schedule of a mixing run: ``k`` and ``λ`` at its first and last epoch, and the target's
    token count."""
    first, last = run.history[0].extra, run.history[-1].extra
    return {"tokens": run.extra["num_tokens"], "k_first": first["k"], "k_last": last["k"],
            "lambda_first": first["lam"], "lambda_last": last["lam"]}


@torch.no_grad()
def informative_share(run: PareRunResult, source: SourceData, k: int | None = None) -> float:
    """The steering check: the share of informative tokens among the ``k`` slots (default: as many as there are
    informative tokens) that the run's trained gate replaces by deterministic selection on its task's validation
    inputs. Uniform selection gives the informative share of the tokens (4 of 16: 0.25)."""
    task, model = run.task, run.model.eval()
    informative = informative_mask(task)
    k = k or int(informative.sum())
    device = next(model.parameters()).device
    count = min(len(task.x_val), len(source))
    tokens, src_tokens = model.embed(task.x_val[:count].to(device)), model.embed_source(source.images[:count].to(device))
    config = PareConfig(**{name: value for name, value in run.config.items() if name in PareConfig.model_fields})
    keep, _ = choose_slots(model, tokens, src_tokens, k, False, config)
    replaced = keep.cpu() < 0.5
    return float((replaced & informative).sum() / replaced.sum())
