"""A notebook's runs: every chosen method over every seed from the notebook's parameters, and the views of the
results its figures take (first seed per method, histories by label, methods with a WiSE-FT curve)."""

from __future__ import annotations

from typing import Any, Iterable

from ..methods import run
from ..records import EpochRecord, RunResult
from ..sweep import sweep
from .params import NotebookParams


def _announce(result: RunResult) -> None:
    print(f"{result.method:16s} seed {result.seed}: test {result.metric} {result.test:.4f} "
          f"(best epoch {result.best_epoch}, {result.seconds:.0f} s)")


def run_methods(params: NotebookParams, **changes: Any) -> list[RunResult]:
    """Every method of ``params.methods`` for every seed of ``params.seeds`` (or its one ``seed``;
    :func:`mmft_kit.sweep.sweep`), each
    from its method's own config made of the parameters (:meth:`NotebookParams.run_config`) and ``changes``;
    one line per run as it ends. The results come seed by seed, methods in the order given."""
    seeds = params.seeds if "seeds" in type(params).model_fields else [params.seed]
    return sweep(lambda method, seed: run(params.run_config(method, seed=seed, **changes)), params.methods,
                 seeds, on_result=_announce, progress=False)


def first_seed(results: Iterable[RunResult], methods: Iterable[str] | None = None) -> dict[str, RunResult]:
    """Each method's run of the first seed, by method (``methods``: only these)."""
    results = list(results)
    seed = results[0].seed if results else None
    chosen = None if methods is None else set(methods)
    return {r.method: r for r in results if r.seed == seed and (chosen is None or r.method in chosen)}


def labelled(results: Iterable[RunResult]) -> dict[str, RunResult]:
    """``"METHOD (seed S)"`` → the run."""
    return {f"{r.method} (seed {r.seed})": r for r in results}


def histories(results: Iterable[RunResult]) -> dict[str, list[EpochRecord]]:
    """``"METHOD (seed S)"`` → the run's epochs, for the runs that trained."""
    return {label: r.history for label, r in labelled(results).items() if r.history}


def wise_ft_traced(results: Iterable[RunResult]) -> list[str]:
    """The methods whose first-seed run traced a WiSE-FT curve."""
    return [method for method, r in first_seed(results).items() if r.extra.get("wise_ft")]
