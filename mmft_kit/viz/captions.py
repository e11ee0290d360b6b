"""Captions: a preview of sample captions, and what the captions of a data set say."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .images import caption_grid


def preview_figure(preview) -> Figure:
    """One row per characteristic of a :class:`mmft_kit.captions.preview.CaptionPreview`: each sample image with
    its caption, word count and generation time."""
    flat = [s for row in preview.samples.values() for s in row]
    return caption_grid(
        [s.image for s in flat], [f"{s.caption}\n({s.words} words, {s.seconds:.2f} s)" for s in flat],
        titles=[s.class_name for s in flat],
        row_labels=list(preview.samples) if len(preview.samples) > 1 else None,
        ncols=len(next(iter(preview.samples.values()))),
    )


def caption_figure(records: Sequence[Any], statistics: Sequence[Mapping[str, Any]], matched: Any = None,
                   shuffled: Any = None) -> Figure:
    """Caption lengths per characteristic, how often captions name the class and their characteristic's
    words ("not measured" where the characteristic has no word list), and (when given) image–caption CLIP
    scores against shuffled pairs.

    Args:
        records: items with ``characteristic`` and ``caption`` (:class:`mmft_kit.captions.statistics.CaptionRecord`).
        statistics: their rows from :func:`mmft_kit.captions.statistics.caption_statistics`.
        matched, shuffled: CLIP scores of each record's own image and of another image, or None.
    """
    stats = [row for row in statistics if row["characteristic"] != "all"]
    panels = 3 if matched is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.2))
    edges = np.histogram_bin_edges([len(r.caption.split()) for r in records], bins=15)
    for row in stats:
        lengths = [len(r.caption.split()) for r in records if r.characteristic == row["characteristic"]]
        axes[0].hist(lengths, bins=edges, alpha=0.6, label=row["characteristic"])
    axes[0].set(title="caption length", xlabel="words", ylabel="captions")
    axes[0].legend(fontsize=8)
    x = np.arange(len(stats))
    axes[1].bar(x - 0.2, [r["class_name_rate"] for r in stats], 0.4, label="names the class")
    rates = [r["characteristic_word_rate"] for r in stats]
    axes[1].bar(x + 0.2, [np.nan if v is None else v for v in rates], 0.4, label="uses its characteristic's words")
    for i in np.flatnonzero([v is None for v in rates]):
        axes[1].text(x[i] + 0.2, 0.03, "not\nmeasured", ha="center", va="bottom", fontsize=7, color="dimgrey")
    axes[1].set_xticks(x, [r["characteristic"] for r in stats])
    axes[1].set_xlim(-0.6, len(stats) - 0.4)
    axes[1].set(title="what captions mention", ylabel="share of captions", ylim=(0, 1.3))
    axes[1].legend(fontsize=8, loc="upper center")
    if matched is not None:
        matched, shuffled = np.asarray(matched), np.asarray(shuffled)
        bins = np.linspace(min(matched.min(), shuffled.min()), max(matched.max(), shuffled.max()), 20)
        axes[2].hist(matched, bins=bins, alpha=0.6, label=f"own image ({matched.mean():.3f})")
        axes[2].hist(shuffled, bins=bins, alpha=0.6, label=f"another image ({shuffled.mean():.3f})")
        axes[2].set(title="image–caption CLIP score", xlabel="cosine similarity")
        axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig
