"""Embeddings: images, captions and prototypes projected to 2-D, one panel per model."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..embeddings import EmbeddingView, project, separation_score
from ..errors import InvalidInputError


def embedding_figure(views: Mapping[str, EmbeddingView], classnames: Sequence[str], method: str = "pca",
                     classes: Sequence[str] | None = None, seed: int = 0) -> Figure:
    """One panel per view: images (dots), texts (triangles) and prototypes (stars) projected together,
    coloured by class; ``classes`` keeps only those classes. Each panel's title gives its silhouette."""
    keep = [classnames.index(c) for c in classes] if classes is not None else list(range(len(classnames)))
    if not keep:
        raise InvalidInputError("pick at least one class")
    fig, axes = plt.subplots(1, len(views), figsize=(4.6 * len(views), 4.2), squeeze=False)
    cmap = plt.get_cmap("tab10" if len(classnames) <= 10 else "tab20")
    for ax, (title, view) in zip(axes.flat, views.items()):
        img_mask, txt_mask = np.isin(view.image_labels, keep), np.isin(view.text_labels, keep)
        parts = [view.images[img_mask], view.texts[txt_mask], view.prototypes[keep]]
        xy = project(np.concatenate(parts), method, seed)
        cut = np.cumsum([len(p) for p in parts])
        img_xy, txt_xy, proto_xy = xy[: cut[0]], xy[cut[0]: cut[1]], xy[cut[1]:]
        for c in keep:
            colour = cmap(c % cmap.N)
            ax.scatter(*img_xy[view.image_labels[img_mask] == c].T, s=9, color=colour, alpha=0.55)
            if len(txt_xy):
                ax.scatter(*txt_xy[view.text_labels[txt_mask] == c].T, s=22, marker="^", color=colour,
                           alpha=0.8, edgecolors="none")
            ax.scatter(*proto_xy[keep.index(c)], s=260, marker="*", color=colour, edgecolors="black", linewidths=1.2)
        score = separation_score(view.images[img_mask], view.image_labels[img_mask]) if len(keep) > 1 else float("nan")
        ax.set_title(f"{title} — silhouette {score:.3f}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], ls="", marker=m, color="grey", markersize=s, label=l)
               for m, s, l in (("o", 5, "image"), ("^", 6, "caption"), ("*", 12, "prototype"))]
    handles += [plt.Line2D([], [], ls="", marker="s", color=cmap(c % cmap.N), label=classnames[c]) for c in keep]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.suptitle(f"{method.upper()} of image and caption embeddings", fontsize=11)
    fig.tight_layout()
    return fig
