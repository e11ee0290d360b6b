"""The issue-11 figures draw from plain numbers."""

import pytest
from matplotlib.figure import Figure

from mmft_kit.errors import InvalidInputError
from mmft_kit.viz import shift_bars, wise_ft_shift_figure


def test_wise_ft_shift_figure_draws_both_curves():
    curve = [(a / 10, 0.2 + a / 20) for a in range(11)]
    fig = wise_ft_shift_figure(curve, {"glyphs-noise": [(a, y - 0.1) for a, y in curve]}, title="t")
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1
    with pytest.raises(InvalidInputError):
        wise_ft_shift_figure([], {})


def test_shift_bars_one_pair_per_method():
    fig = shift_bars([{"method": "mmft", "test": 0.5, "shifted": 0.4},
                      {"method": "lp_pp", "test": 0.6, "shifted": 0.3}])
    assert len(fig.axes[0].patches) == 4


def test_shift_bars_title_the_runs_and_show_their_spread():
    rows = [{"method": "mmft", "test": 0.5, "test_se": 0.05, "shifted": 0.4, "shifted_se": 0.02, "runs": 3}]
    ax = shift_bars(rows, dataset="glyphs", shots=4, seeds=[0, 1, 2]).axes[0]
    assert ax.get_title().endswith("glyphs, 4-shot, seeds 0–2, n = 3 per method")
    assert len([c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]) == 2
