"""Rows of results as tables: means and spreads per group, and Markdown text."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np


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


def aggregate(rows: Sequence[Mapping[str, Any]], by: str, keys: Sequence[str]) -> list[dict]:
    """Per value of ``by`` (first-seen order): how many rows, and the mean and standard deviation of each key."""
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[by], []).append(row)
    out = []
    for value, group in groups.items():
        entry: dict[str, Any] = {by: value, "runs": len(group)}
        for key in keys:
            values = [float(r[key]) for r in group]
            entry[key], entry[f"{key}_std"] = float(np.mean(values)), float(np.std(values))
        out.append(entry)
    return out
