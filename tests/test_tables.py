"""Reporting (mmft_kit.report): group means with the spread named, mean ± s.e., Markdown and CSV text."""

from __future__ import annotations

import pytest

from mmft_kit.report import aggregate, best, csv_text, markdown_table, mean_se


def test_markdown_table_formats_floats_and_escapes_pipes():
    text = markdown_table([{"a": 0.12345, "b": "x|y"}, {"a": 2, "c": None}])
    lines = text.splitlines()
    assert lines[0] == "| a | b | c |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| 0.123 | x\\|y |  |" and lines[3] == "| 2 |  | n/a |"  # None: not measured


def test_aggregate_means_and_spreads_per_group():
    rows = [{"m": "a", "acc": 0.5}, {"m": "b", "acc": 1.0}, {"m": "a", "acc": 0.7}]
    out = aggregate(rows, "m", ["acc"])
    assert [r["m"] for r in out] == ["a", "b"]
    assert out[0]["runs"] == 2 and out[0]["acc"] == pytest.approx(0.6) and out[0]["acc_se"] == pytest.approx(0.1)
    assert out[1]["acc_se"] is None  # one run: no spread to report
    assert "| b | 1 | 1.000 | n/a |" in markdown_table(out)
    assert aggregate(rows, "m", ["acc"], spread="sd")[0]["acc_sd"] == pytest.approx(0.2 / 2**0.5)


def test_best_is_the_highest_mean_among_the_groups_that_ran():
    summary = aggregate([{"m": "mmft", "acc": 0.6}, {"m": "lp", "acc": 0.9}, {"m": "lp", "acc": 0.5},
                         {"m": "zs", "acc": 0.65}], "m", ["acc"])
    assert best(summary, "m", "acc") == "lp" and best(summary, "m", "acc", higher_is_better=False) == "mmft"


def test_mean_and_standard_error():
    assert mean_se([0.5]) == (0.5, 0.0)
    mean, se = mean_se([0.2, 0.4, 0.6])
    assert mean == pytest.approx(0.4) and se == pytest.approx(0.2 / 3**0.5)


def test_csv_keeps_values_as_they_are_and_leaves_out_other_keys():
    text = csv_text([{"a": 1, "b": 0.1, "c": "x"}, {"a": None, "b": 2.5}], columns=["a", "b"])
    assert text == "a,b\n1,0.1\n,2.5\n"
