"""Chance levels: where a metric lands for a scorer that knows nothing, so a figure can show what is noise."""

from __future__ import annotations

import math

from scipy.stats import norm

from .errors import InvalidInputError


def auroc_chance_band(positives: int, negatives: int, level: float = 0.95) -> tuple[float, float]:
    """The range holding a random ranking's AUROC with probability ``level``.

    A random ranking of ``positives`` positive and ``negatives`` negative items has AUROC
    U / (n₊ n₋) with Mann–Whitney's null distribution: mean 0.5, variance (n₊ + n₋ + 1) / (12 n₊ n₋);
    the band is its normal approximation, cut to [0, 1].

    Args:
        positives, negatives: how many independent items of each kind are ranked (for a gate's
            token scores: informative and other token positions).
        level: the probability the band holds.

    Returns:
        ``(low, high)``.
    """
    if positives < 1 or negatives < 1:
        raise InvalidInputError(f"need at least one positive and one negative; got {positives} and {negatives}")
    if not 0.0 < level < 1.0:
        raise InvalidInputError(f"level must lie strictly between 0 and 1; got {level}")
    spread = norm.ppf(0.5 + level / 2) * math.sqrt((positives + negatives + 1) / (12 * positives * negatives))
    return max(0.0, 0.5 - spread), min(1.0, 0.5 + spread)
