"""The pre-registered PaRe test's rule: paired t-intervals and the verdict they give."""

from __future__ import annotations

import pytest
from scipy import stats

from mmft_kit.pare.verdict import PairedInterval, decide, paired_interval
from mmft_kit.records import RunResult


def _runs(method: str, values: list[float]) -> list[RunResult]:
    return [RunResult(method, seed, "1-accuracy", False, value, value, 0, 1.0, [], {}) for seed, value in
            enumerate(values)]


def test_paired_interval_is_the_t_interval_of_the_seedwise_differences():
    runs = _runs("pare", [0.50, 0.52, 0.47, 0.49]) + _runs("finetune", [0.51, 0.55, 0.50, 0.49])
    interval = paired_interval(runs, "pare", "finetune")
    diffs = [-0.01, -0.03, -0.03, 0.0]
    half = stats.t.ppf(0.975, 3) * stats.tstd(diffs) / 2
    assert interval.n == 4 and interval.mean == pytest.approx(-0.0175)
    assert (interval.low, interval.high) == pytest.approx((-0.0175 - half, -0.0175 + half))


def _interval(low: float, high: float) -> PairedInterval:
    return PairedInterval("a", "b", (low + high) / 2, 0.01, 20, low, high)


@pytest.mark.parametrize("finetune, uniform, expected", [
    ((-0.03, -0.01), (-0.02, -0.005), "PaRe helps"),
    ((-0.03, -0.01), (-0.02, 0.005), "but the gate's choice does not"),
    ((-0.015, -0.001), (-0.02, 0.005), "excluded"),
    ((-0.01, 0.01), (-0.02, 0.02), "bounded null"),
    ((-0.03, 0.01), (-0.02, 0.02), "inconclusive"),
])
def test_the_rule_reads_the_intervals_as_registered(finetune, uniform, expected):
    assert expected in decide(_interval(*finetune), _interval(*uniform), {"check": True})


def test_a_failed_check_means_not_counted_and_names_the_check():
    text = decide(_interval(-0.03, -0.01), _interval(-0.03, -0.01), {"source head learns": False, "other": True})
    assert text.startswith("not counted") and "source head learns" in text and "other" not in text
