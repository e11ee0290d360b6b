"""Sweeps: one configuration × methods × seeds → run results and a table.

Every method of a sweep runs with the same seeds, so results pair up by seed and a comparison
is a paired difference (:func:`mmft_kit.report.paired_difference`), not a difference of two noisy means.
Notebooks, the batch runner and the benchmarks all call :func:`sweep`.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

from tqdm.auto import tqdm

from .records import RunResult
from .report import paired_difference, shift_summary, summarise  # noqa: F401  (their old home)
from .runtime import bar_options

RunOne = Callable[[str, int], RunResult]


def sweep(run_one: RunOne, methods: Sequence[str], seeds: Sequence[int],
          done: Iterable[RunResult] = (), on_result: Callable[[RunResult], None] | None = None,
          progress: bool = True) -> list[RunResult]:
    """Run ``run_one(method, seed)`` for every method and seed, seeds outermost.

    Args:
        run_one: makes one run; a method and a seed fully decide it.
        methods, seeds: the grid.
        done: results already at hand (e.g. read back from disk); their (method, seed) points are
            not rerun.
        on_result: called with each new result as it arrives (to save it at once).
        progress: a tqdm bar over the points.

    Returns:
        The results in grid order (seed, then method), finished ones included.
    """
    have = {(r.method, r.seed): r for r in done}
    points = [(method, seed) for seed in seeds for method in methods]
    for method, seed in tqdm(points, desc="sweep", **bar_options(progress)):
        if (method, seed) not in have:
            result = run_one(method, seed)
            have[(method, seed)] = result
            if on_result is not None:
                on_result(result)
    return [have[p] for p in points]


def results_table(results: Iterable[RunResult]) -> list[dict]:
    """One flat row per run (see :meth:`RunResult.summary`)."""
    return [r.summary() for r in results]
