"""PaRe's pre-registered test, read by its rule (``benchmarks/results/pare_preregistration.md``): paired 95 %
intervals of test-metric differences, the manipulation checks that must hold, and the verdict.

The rule, as registered: PaRe helps if the interval of ``pare − finetune`` lies below 0; the gate helps if
``pare − pare_uniform`` also does; if the lower end of ``pare − finetune`` is above ``−BOUND``, a gain of
``BOUND`` is excluded (the bounded null); anything else is inconclusive. A result counts only when every check
holds.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping

from scipy import stats

from ..records import RunResult
from ..report import paired_differences

#: The gain (in metric units: 1 − accuracy) that the bounded null excludes: two points of accuracy.
BOUND = 0.02


@dataclass(frozen=True)
class PairedInterval:
    """``a − b`` paired by seed: mean, standard deviation of the differences, number of seeds, 95 % t-interval."""

    a: str
    b: str
    mean: float
    sd: float
    n: int
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.a} − {self.b}: {self.mean:+.4f} [{self.low:+.4f}, {self.high:+.4f}] (s.d. {self.sd:.4f}, n={self.n})"


def paired_interval(runs: Iterable[RunResult], a: str, b: str, level: float = 0.95) -> PairedInterval:
    """The ``level`` t-interval of the mean of ``a − b`` test metrics over the seeds both methods ran."""
    diffs = paired_differences(runs, a, b)
    n = len(diffs)
    mean = statistics.fmean(diffs) if diffs else float("nan")
    sd = statistics.stdev(diffs) if n > 1 else float("nan")
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / n ** 0.5 if n > 1 else float("nan")
    return PairedInterval(a, b, mean, sd, n, mean - half, mean + half)


def decide(pare_finetune: PairedInterval, pare_uniform: PairedInterval, checks: Mapping[str, bool]) -> str:
    """The verdict by the registered rule, in one sentence; ``checks``: each manipulation check → whether it held."""
    failed = [name for name, held in checks.items() if not held]
    if failed:
        return f"not counted: the check '{'; '.join(failed)}' failed, so the test says nothing about PaRe"
    gain = f"(pare − finetune {pare_finetune.mean:+.4f}, 95 % interval [{pare_finetune.low:+.4f}, " \
           f"{pare_finetune.high:+.4f}])"
    if pare_finetune.high < 0:
        gate = "and the gate helps (pare − pare_uniform also below 0)" if pare_uniform.high < 0 else \
            "but the gate's choice does not (pare − pare_uniform not below 0)"
        small = f"; a gain of {BOUND:.2f} or more is excluded" if pare_finetune.low > -BOUND else ""
        return f"PaRe helps {gain}, {gate}{small}"
    if pare_finetune.low > -BOUND:
        return f"bounded null: PaRe shows no gain and a gain of {BOUND:.2f} (two points of accuracy) or more is " \
               f"excluded {gain}"
    return f"inconclusive: no gain shown and a gain of {BOUND:.2f} not excluded {gain}"


def as_dict(interval: PairedInterval) -> dict:
    """The interval as a JSON-able dict."""
    return asdict(interval)


#: Where ``python -m benchmarks.pare_test`` writes the test's summary (in a source checkout of the kit).
RESULT_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "pare_test.json"


def load_result(path: Path = RESULT_PATH) -> dict | None:
    """The pre-registered test's saved summary (verdict, intervals, checks, body), or ``None`` before it has run."""
    return json.loads(path.read_text()) if path.is_file() else None


def interval_rows(result: dict) -> list[dict]:
    """The summary's paired intervals as table rows."""
    return [{"difference": name, "mean": round(i["mean"], 4), "95 % low": round(i["low"], 4),
             "95 % high": round(i["high"], 4), "s.d.": round(i["sd"], 4), "seeds": i["n"]}
            for name, i in result["intervals"].items()]


def check_rows(result: dict) -> list[dict]:
    """The summary's manipulation checks as table rows (what was measured, the rule, whether it holds)."""
    return [{"measured": name, "value": round(value, 3) if isinstance(value, float) else value, "rule": rule,
             "holds": ok} for (name, value), (rule, ok) in zip(result["checks"].items(), result["checks_hold"].items())]
