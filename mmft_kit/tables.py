"""Rows of results as tables: means and spreads per group, and Markdown text."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


def _cell(value: Any, digits: int, missing: str = "") -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return missing if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, digits: int = 3,
                   missing: str = "") -> str:
    """A Markdown table of ``rows`` (dicts); ``columns`` default to every key, in first-seen order; a None
    value shows as ``missing`` (e.g. ``"n/a"`` for the spread of one run)."""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c), digits, missing) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def aggregate(rows: Sequence[Mapping[str, Any]], by: str, keys: Sequence[str]) -> list[dict]:
    """Per value of ``by`` (first-seen order): how many rows, and the mean and standard deviation of each key
    (``KEY_std``; None for a single row, whose spread is not measured)."""
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[by], []).append(row)
    out = []
    for value, group in groups.items():
        entry: dict[str, Any] = {by: value, "runs": len(group)}
        for key in keys:
            values = [float(r[key]) for r in group]
            entry[key] = float(np.mean(values))
            entry[f"{key}_std"] = float(np.std(values)) if len(values) > 1 else None
        out.append(entry)
    return out


def best(summary: Sequence[Mapping[str, Any]], by: str, key: str, higher_is_better: bool = True) -> Any:
    """The ``by`` value of the :func:`aggregate` row with the best mean ``key`` (highest, or lowest when
    ``higher_is_better`` is False): the method to name as best among those that ran."""
    pick = max if higher_is_better else min
    return pick(summary, key=lambda row: row[key])[by]
