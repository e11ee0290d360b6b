"""Result rows as tables: group means and spreads, Markdown text."""

from __future__ import annotations

import pytest

from mmft_kit.tables import aggregate, markdown_table


def test_markdown_table_formats_floats_and_escapes_pipes():
    text = markdown_table([{"a": 0.12345, "b": "x|y"}, {"a": 2, "c": None}])
    lines = text.splitlines()
    assert lines[0] == "| a | b | c |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| 0.123 | x\\|y |  |" and lines[3] == "| 2 |  | n/a |"  # None: not measured


def test_aggregate_means_and_spreads_per_group():
    rows = [{"m": "a", "acc": 0.5}, {"m": "b", "acc": 1.0}, {"m": "a", "acc": 0.7}]
    out = aggregate(rows, "m", ["acc"])
    assert [r["m"] for r in out] == ["a", "b"]
    assert out[0]["runs"] == 2 and out[0]["acc"] == pytest.approx(0.6) and out[0]["acc_std"] == pytest.approx(0.1)
    assert out[1]["acc_std"] == 0.0
