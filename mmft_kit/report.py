"""Reporting results: mean ± standard error, group tables with the spread named, CSV and Markdown text,
saved figures, and a notebook's headline metrics flattened from its run records.

Every spread the kit reports is named by its column: ``KEY_se`` (standard error of the mean, ddof 1,
:func:`scipy.stats.sem`) or ``KEY_sd`` (standard deviation, ddof 1); a group of one value has none to report
(None in a table and in metrics.json, "n/a" in Markdown), while :func:`mean_se` gives 0 for it.
Notebooks, the sweep helper, the batch runner and the benchmarks all report through this module.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from scipy import stats

from .errors import InvalidInputError
from .io import atomic_write_bytes, atomic_write_text
from .records import RunResult

#: The spreads a table can report, by the suffix of their column: values → spread (0 for one value).
SPREADS: dict[str, Callable[[np.ndarray], float]] = {
    "se": lambda values: float(stats.sem(values)) if values.size > 1 else 0.0,
    "sd": lambda values: float(np.std(values, ddof=1)) if values.size > 1 else 0.0,
}


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value, NaN for none)."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return math.nan, math.nan
    return float(array.mean()), SPREADS["se"](array)


def _spread(name: str) -> Callable[[np.ndarray], float]:
    if name not in SPREADS:
        raise InvalidInputError(f"unknown spread {name!r}; choose one of {list(SPREADS)}")
    return SPREADS[name]


def aggregate(rows: Sequence[Mapping[str, Any]], by: str, keys: Sequence[str], spread: str = "se") -> list[dict]:
    """Per value of ``by`` (first-seen order): ``runs`` (rows), and each key's mean (``KEY``) and spread
    (``KEY_se`` or ``KEY_sd``, by ``spread``; None for a group of one row, whose spread is not measured)."""
    measure = _spread(spread)
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[by], []).append(row)
    out = []
    for value, group in groups.items():
        entry: dict[str, Any] = {by: value, "runs": len(group)}
        for key in keys:
            values = np.asarray([float(r[key]) for r in group])
            entry[key] = float(values.mean())
            entry[f"{key}_{spread}"] = measure(values) if values.size > 1 else None
        out.append(entry)
    return out


def best(summary: Sequence[Mapping[str, Any]], by: str, key: str, higher_is_better: bool = True) -> Any:
    """The ``by`` value of the :func:`aggregate` row with the best mean ``key`` (highest, or lowest when
    ``higher_is_better`` is False): the method to name as best among those that ran."""
    pick = max if higher_is_better else min
    return pick(summary, key=lambda row: row[key])[by]


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "n/a" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """A Markdown table of ``rows`` (dicts); ``columns`` default to every key, in first-seen order; a value of
    None (not measured) reads "n/a", a column a row lacks stays empty."""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row[c], digits) if c in row else "" for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """CSV of ``rows`` (pandas; every value written as it is, missing ones empty); ``columns`` default to every
    key in first-seen order, and keys outside them are left out."""
    import pandas as pd

    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    frame = pd.DataFrame([{c: row.get(c) for c in columns} for row in rows], columns=list(columns), dtype=object)
    return frame.to_csv(index=False, lineterminator="\n")


def write_csv(path: str | Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> Path:
    """:func:`csv_text` written to ``path`` atomically."""
    atomic_write_text(path, csv_text(rows, columns))
    return Path(path)


def save_figure(figure, path: str | Path, dpi: int = 100, **options: Any) -> Path:
    """Write ``figure`` as a PNG to ``path`` atomically (``options`` go to ``savefig``), and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi, **options)
    finally:
        plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def run_metrics(results: Iterable[RunResult], pairs: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """A notebook's headline metrics from its run records, one flat dict.

    Per method (first-seen order): ``test.METHOD`` (mean over its seeds) and ``test_se.METHOD`` (standard
    error), ``shifted.METHOD`` (mean accuracy over the further evaluation sets, when the runs have them);
    ``best_method`` (by mean test metric, in the metric's direction); ``seeds``; ``zeroshot_accuracy``
    (the start model's, when the runs measured it); and for each ``(a, b)`` of ``pairs`` whose methods both
    ran, ``paired.a − b``: the mean difference paired by seed.
    """
    results = list(results)
    if not results:
        return {}
    rows = [r.summary() for r in results]
    keys = ["test"] + (["shifted"] if all("shifted" in row for row in rows) else [])
    table = aggregate(rows, "method", keys)
    metrics: dict[str, Any] = {"seeds": len({r.seed for r in results})}
    for row in table:
        metrics.update({f"{key}.{row['method']}": row[key] for key in keys})
        metrics[f"test_se.{row['method']}"] = row["test_se"]
    metrics["best_method"] = best(table, "method", "test", results[0].higher_is_better)
    zeroshot = [r.extra["zeroshot"] for r in results if r.extra.get("zeroshot") is not None]
    if zeroshot:
        metrics["zeroshot_accuracy"] = zeroshot[0]
    ran = {r.method for r in results}
    for a, b in pairs:
        if {a, b} <= ran:
            metrics[f"paired.{a} − {b}"] = paired_difference(results, a, b)[0]
    return metrics


def paired_table(results: Iterable[RunResult], pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """One row per ``(a, b)`` of ``pairs`` whose methods both ran: ``a − b`` paired by seed (mean, s.e., seeds)."""
    results = list(results)
    ran = {r.method for r in results}
    rows = []
    for a, b in pairs:
        if {a, b} <= ran:
            mean, se, seeds = paired_difference(results, a, b)
            rows.append({"difference": f"{a} − {b}", "mean": mean, "se": se, "seeds": seeds})
    return rows


def group_metrics(rows: Sequence[Mapping[str, Any]], by: str, overall_keys: Sequence[str],
                  group_keys: Sequence[str], overall: str = "all") -> dict[str, Any]:
    """A summary table (one row per group, named by ``by``, and one ``overall`` row) as flat metrics: each of
    ``overall_keys`` of the overall row as ``KEY``, each of ``group_keys`` of the other rows as ``NAME.KEY``."""
    named = {row[by]: row for row in rows}
    metrics = {key: named[overall][key] for key in overall_keys}
    metrics.update({f"{name}.{key}": row[key] for name, row in named.items() if name != overall for key in group_keys})
    return metrics


def run_records(results: Iterable[RunResult]) -> list[dict[str, Any]]:
    """Each run's whole record as JSON-able values (a notebook's ``details``)."""
    return [r.to_dict() for r in results]


def row_metrics(rows: Sequence[Mapping[str, Any]], by: str, keys: Sequence[str]) -> dict[str, Any]:
    """A table's cells as flat metrics: ``KEY.NAME`` for each row (named by its ``by`` value) and key."""
    return {f"{key}.{row[by]}": row[key] for row in rows for key in keys if key in row}


def shift_summary(results: Iterable[RunResult]) -> list[dict]:
    """Per method (first-seen order): mean in-distribution (``test``) and mean shifted accuracy (the
    runs' further evaluation sets, ``extra["eval"]``) over seeds; empty when no run has such sets."""
    rows = [r.summary() for r in results]
    if not rows or not all("shifted" in row for row in rows):
        return []
    return aggregate(rows, "method", ["test", "shifted"])


def summarise(results: Iterable[RunResult], key: str = "test") -> dict[str, tuple[float, float, int]]:
    """Per method: (mean, standard error, number of seeds) of ``key``."""
    by_method: dict[str, list[float]] = {}
    for r in results:
        by_method.setdefault(r.method, []).append(getattr(r, key))
    return {m: (*mean_se(v), len(v)) for m, v in by_method.items()}


def paired_differences(results: Iterable[RunResult], method_a: str, method_b: str, key: str = "test") -> list[float]:
    """``a − b`` of ``key`` for each seed both methods ran, in seed order."""
    values: dict[str, dict[int, float]] = {method_a: {}, method_b: {}}
    for r in results:
        if r.method in values:
            values[r.method][r.seed] = getattr(r, key)
    return [values[method_a][s] - values[method_b][s] for s in sorted(set(values[method_a]) & set(values[method_b]))]


def paired_difference(results: Iterable[RunResult], method_a: str, method_b: str,
                      key: str = "test") -> tuple[float, float, int]:
    """``a − b`` paired by seed: (mean, standard error, number of shared seeds)."""
    diffs = paired_differences(results, method_a, method_b, key)
    return (*mean_se(diffs), len(diffs))
