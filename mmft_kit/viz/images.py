"""Images and images with text under them."""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from ..errors import InvalidInputError


def as_picture(x: Any) -> np.ndarray:
    """An image to draw: PIL or uint8 ``(H, W, 3)`` as is; a ``(C, H, W)`` tensor rescaled to [0, 1]
    (3 channels in colour, 1 or more than 3 as grey from their mean)."""
    if isinstance(x, Image.Image):
        return np.asarray(x.convert("RGB"))
    array = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if array.ndim == 3 and array.shape[-1] == 3 and array.dtype == np.uint8:
        return array
    if array.ndim == 3:
        array = array.transpose(1, 2, 0) if array.shape[0] == 3 else array.mean(axis=0)
    low, high = float(array.min()), float(array.max())
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def caption_grid(images: Sequence[Any], texts: Sequence[str], titles: Sequence[str] | None = None,
                 row_labels: Sequence[str] | None = None, ncols: int | None = None, width: int = 34) -> Figure:
    """Images with a text block under each (wrapped to ``width`` characters), in rows of ``ncols``."""
    if len(images) != len(texts):
        raise InvalidInputError(f"{len(images)} images but {len(texts)} texts")
    if not images:
        raise InvalidInputError("no images to draw")
    ncols = ncols or min(len(images), 4)
    nrows = -(-len(images) // ncols)
    wrapped = ["\n".join(textwrap.fill(line, width) for line in t.splitlines()) for t in texts]
    text_lines = max(w.count("\n") + 1 for w in wrapped)
    cell_h = 2.2 + 0.16 * text_lines
    cell_w = max(2.8, 0.075 * width + 0.4)  # room for `width` monospace characters at 7 pt
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell_w * ncols, cell_h * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, text) in enumerate(zip(images, wrapped)):
        ax = axes.flat[i]
        ax.imshow(as_picture(image), cmap="gray", interpolation="nearest", aspect="equal")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
        ax.text(0.5, -0.04, text, transform=ax.transAxes, ha="center", va="top", fontsize=7, family="monospace")
    if row_labels is not None:
        for r, label in enumerate(row_labels[:nrows]):
            axes[r, 0].text(-0.12, 0.5, label, transform=axes[r, 0].transAxes, rotation=90, ha="right",
                            va="center", fontsize=10, weight="bold")
    fig.subplots_adjust(hspace=0.25 + 0.06 * text_lines, wspace=0.2)
    return fig
