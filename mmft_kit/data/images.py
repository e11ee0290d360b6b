"""Decoding image files into the RGB images every model here reads, whatever the file held.

:func:`to_rgb` applies the EXIF orientation and turns any PIL mode into 8-bit RGB: CMYK and
palette images are converted, 16-bit and float greys are rescaled to 8 bits (PIL's own
conversion clips them to white), and transparency is laid over white (PIL's drops the alpha and
shows whatever colour hides under it). :func:`load_rgb` reads a file that way; a file that cannot
be read (empty, truncated, corrupt, or past PIL's decompression-bomb limit) raises
:class:`~mmft_kit.errors.UnreadableImageError` naming the file and the reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from ..errors import UnreadableImageError

#: The EXIF tag that says how to turn the stored pixels upright.
_ORIENTATION = 0x0112
#: 16-bit and wider single-channel modes, rescaled to 8 bits by their value range.
_WIDE_GREY = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _to_8bit(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        scaled = values / 257.0
    else:  # 32-bit int or float: stretch the image's own range
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` upright (EXIF orientation applied) as 8-bit RGB; transparent parts become white.

    Args:
        image: a PIL image of any mode.

    Returns:
        An RGB image (``image`` itself when it already is upright RGB).
    """
    if image.getexif().get(_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode == "RGB":
        return image
    if image.mode in _WIDE_GREY:
        image = _to_8bit(image)
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Read an image file as upright 8-bit RGB (see :func:`to_rgb`).

    Args:
        path: the image file.

    Returns:
        The decoded RGB image.

    Raises:
        UnreadableImageError: the file is empty, truncated or corrupt, or its size passes PIL's
            decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``); the message names the file.
    """
    path = str(path)
    try:
        with open(path, "rb") as handle:
            image = Image.open(handle)
            image.load()
            return to_rgb(image)
    except Image.DecompressionBombError as err:
        raise _unreadable(path, "image too large to decode safely (decompression-bomb limit)", err) from err
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        empty = os.path.isfile(path) and os.path.getsize(path) == 0
        raise _unreadable(path, "empty file" if empty else f"unreadable image ({type(err).__name__})", err) from err


def _unreadable(path: str, reason: str, err: Exception) -> UnreadableImageError:
    return UnreadableImageError(
        f"cannot read image file {path}: {reason}: {err}. Replace or remove the file.", path=path, reason=reason
    )


def image_folder(path: Path, transform: Callable | None, classes: Sequence[str] | None = None) -> Dataset:
    """A torchvision ImageFolder of ``path`` whose unreadable images raise an error naming the file.

    ``classes`` (a superset of the folder's class folders) fixes the class list and so the
    labels, e.g. to keep the labels of a data set's splits equal when a split lacks a class.
    """
    from torchvision.datasets import ImageFolder

    ds = ImageFolder(str(path), transform=transform, loader=load_rgb)
    if classes is not None:
        index = {c: i for i, c in enumerate(classes)}
        ds.samples = ds.imgs = [(file, index[ds.classes[label]]) for file, label in ds.samples]
        ds.targets = [label for _, label in ds.samples]
        ds.classes, ds.class_to_idx = list(classes), index
    return ds
