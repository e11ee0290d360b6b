"""scikit-learn's handwritten digits (1,797 images of 8×8) as a small real-image task.

The digits ship inside scikit-learn, so this task works offline. Images are drawn as dark ink
on white paper (as the scans were), upsampled bilinearly to ``image_size`` and copied to three
channels. Class names are number words ("zero" … "nine"), which read better in a caption
prompt ("this zero photo") than bare figures.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
from PIL import Image

from ..errors import InvalidInputError
from .arrays import ArrayImageDataset
from .few_shot import stratified_split

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIGITS_DOMAIN = "handwritten digits"
#: The splits digits offers; validation data comes from a hold-out of train (see ``train_val_split``).
DIGITS_SPLITS = ("train", "test")
#: Fraction of every class that goes to the test split.
DIGITS_TEST_FRACTION = 0.3


@lru_cache(maxsize=1)
def _raw_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images.astype(np.float32), bunch.target.astype(np.int64)


@lru_cache(maxsize=4)
def _digit_images(image_size: int) -> np.ndarray:
    """All 1,797 digits as uint8 RGB ``(N, image_size, image_size, 3)``, dark ink on white."""
    raw, _ = _raw_digits()
    grey = (255.0 - raw * (255.0 / 16.0)).round().astype(np.uint8)
    resized = [np.asarray(Image.fromarray(g).resize((image_size, image_size), Image.BILINEAR)) for g in grey]
    images = np.repeat(np.stack(resized)[..., None], 3, axis=-1)
    images.setflags(write=False)
    return images


def make_digits(
    split: str = "train", image_size: int = 32, seed: int = 0, transform: Callable | None = None
) -> ArrayImageDataset:
    """The train or test split of the digits: a stratified 70/30 split, fixed for ``seed``."""
    if split not in DIGITS_SPLITS:
        raise InvalidInputError(
            f"digits has splits {DIGITS_SPLITS}, not {split!r}; for validation data hold out part of train "
            "with mmft_kit.data.train_val_split(dataset, val_fraction=0.1)"
        )
    if not isinstance(image_size, int) or image_size < 8:
        raise InvalidInputError(f"image_size must be an integer ≥ 8 for the 8×8 digits; got {image_size!r}")
    _, labels = _raw_digits()
    train_idx, test_idx = stratified_split(labels, DIGITS_TEST_FRACTION, seed)
    idx = np.asarray(train_idx if split == "train" else test_idx)
    return ArrayImageDataset(
        _digit_images(image_size)[idx], labels[idx], DIGIT_NAMES, DIGITS_DOMAIN, transform=transform, name="digits"
    )
