"""Chance levels: the AUROC band holds a random ranking's AUROC as often as it says."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from mmft_kit.chance import auroc_chance_band
from mmft_kit.errors import InvalidInputError


def test_a_random_rankings_auroc_falls_in_the_band_as_often_as_its_level():
    rng = np.random.default_rng(0)
    labels = np.array([1] * 4 + [0] * 12)
    low, high = auroc_chance_band(4, 12)
    assert (low, high) == pytest.approx((0.5 - 1.96 * np.sqrt(17 / 576), 0.5 + 1.96 * np.sqrt(17 / 576)), abs=1e-3)
    aurocs = np.array([roc_auc_score(labels, rng.random(16)) for _ in range(4000)])
    assert np.mean((aurocs >= low) & (aurocs <= high)) == pytest.approx(0.95, abs=0.015)
    assert low < 0.30 < high  # a random gate's 0.30 on one seed is within chance


def test_the_band_narrows_with_more_items_and_refuses_empty_classes():
    assert np.diff(auroc_chance_band(400, 1200)) < np.diff(auroc_chance_band(4, 12))
    with pytest.raises(InvalidInputError):
        auroc_chance_band(0, 12)
