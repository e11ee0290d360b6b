"""What every figure shares: titles that say what was run (data set, shots, seeds, n), lines that stay
apart when they coincide, and chance bands."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

#: Line styles and markers given to the series of one panel in turn, so coinciding series stay visible.
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")


def _seed_text(seeds: Sequence[int]) -> str:
    seeds = sorted(set(int(s) for s in seeds))
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"seeds {seeds[0]}–{seeds[-1]}"
    return "seeds " + ", ".join(map(str, seeds))


def describe_runs(dataset: str | None = None, shots: int | str | None = None, seeds: Sequence[int] | None = None,
                  n: Sequence[int] | int | None = None, per: str = "method") -> str:
    """What a figure's runs were, for its title: ``"glyphs, 4-shot, seeds 0–2, n = 3 per method"``.

    Args:
        dataset: the data set (or task) name.
        shots: images per class (a number), or words such as ``"all images"``.
        seeds: the seeds run.
        n: runs behind each drawn value (one number, or one per group).
        per: what a group is, for the ``n`` phrase.

    Returns:
        The given parts joined by commas; ``""`` when none is given.
    """
    parts = [str(dataset)] if dataset else []
    if shots is not None:
        parts.append(f"{shots}-shot" if isinstance(shots, (int, np.integer)) else str(shots))
    if seeds:
        parts.append(_seed_text(seeds))
    if n is not None:
        counts = sorted({int(c) for c in np.atleast_1d(n)})
        said = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
        parts.append(f"n = {said} per {per}" + (" (one run: no spread)" if counts == [1] else ""))
    return ", ".join(parts)


def plot_series(ax, series: Sequence[tuple[str, Sequence[float], Sequence[float]]], **kwargs) -> None:
    """Draw ``(label, epochs, ys)`` series on ``ax``, each with its own line style and marker, on whole-number
    ticks; a series equal to an earlier one says so in its label ("= pare (seed 0)"), so two identical curves
    never look like one."""
    drawn: list[tuple[str, np.ndarray, np.ndarray]] = []
    for i, (label, xs, ys) in enumerate(series):
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        same = next((other for other, ox, oy in drawn if ox.shape == x.shape and np.allclose(ox, x)
                     and np.allclose(oy, y, equal_nan=True)), None)
        ax.plot(x, y, linestyle=LINE_STYLES[i % len(LINE_STYLES)], marker=MARKERS[i % len(MARKERS)], ms=4,
                linewidth=2.2 - 0.4 * (i % 3), alpha=0.85, color=f"C{i % 10}",
                label=label if same is None else f"{label} (= {same})", **kwargs)
        drawn.append((label, x, y))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def chance_band(ax, band: tuple[float, float], label: str) -> None:
    """Shade ``band`` (low, high) across ``ax``, with 0.5 dotted and ``label`` in the legend."""
    ax.axhspan(*band, color="grey", alpha=0.15, label=label, zorder=0)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
