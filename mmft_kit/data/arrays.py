"""An in-memory image classification data set that looks like a torchvision one."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ..errors import InvalidInputError


class ArrayImageDataset(Dataset):
    """Images held as a uint8 array ``(N, H, W, 3)`` with integer labels.

    Items are ``(transform(PIL image), label)`` as with torchvision data sets; the data set
    also carries ``classnames`` (index → name), ``domain`` (the words a caption prompt uses
    for the data set's kind of photo) and, for world data, per-image ``attributes``.
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: Sequence[int],
        classnames: Sequence[str],
        domain: str,
        transform: Callable | None = None,
        attributes: Sequence[dict] | None = None,
        name: str = "arrays",
    ) -> None:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise InvalidInputError(
                f"images must be a uint8 array of shape (N, H, W, 3); got {images.dtype} {images.shape}"
            )
        targets = np.asarray(targets, dtype=np.int64)
        if len(targets) != len(images):
            raise InvalidInputError(f"{len(images)} images but {len(targets)} labels")
        if not classnames:
            raise InvalidInputError("classnames is empty: give one name per class")
        if len(targets) and (targets.min() < 0 or targets.max() >= len(classnames)):
            raise InvalidInputError(
                f"labels must lie in [0, {len(classnames) - 1}] for {len(classnames)} class names; "
                f"got range [{targets.min()}, {targets.max()}]"
            )
        self.images = images
        self.targets = targets.tolist()
        self.classnames = list(classnames)
        self.domain = domain
        self.transform = transform
        self.attributes = list(attributes) if attributes is not None else None
        self.name = name

    def __len__(self) -> int:
        return len(self.images)

    def image(self, index: int) -> Image.Image:
        """The untransformed image at ``index`` as a PIL image."""
        return Image.fromarray(self.images[index])

    def __getitem__(self, index: int):
        img = self.image(index)
        if self.transform is not None:
            img = self.transform(img)
        return img, self.targets[index]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, n={len(self)}, classes={len(self.classnames)}, "
            f"domain={self.domain!r}, image_size={self.images.shape[1:3]})"
        )
