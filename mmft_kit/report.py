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


def run_metrics(results: Iterable[RunResult], key: str = "test", name: str | None = None) -> dict[str, float]:
    """A notebook's headline metrics from run records: per method, ``NAME.METHOD`` (mean of ``key`` over its
    seeds) and ``NAME_se.METHOD`` (its standard error; None for one seed); ``name`` defaults to ``key``."""
    rows = [r.summary() for r in results]
    name = name or key
    metrics: dict[str, float] = {}
    for row in aggregate(rows, "method", [key]):
        metrics[f"{name}.{row['method']}"] = row[key]
        metrics[f"{name}_se.{row['method']}"] = row[f"{key}_se"]
    return metrics
