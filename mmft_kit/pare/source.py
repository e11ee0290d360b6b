"""Source-modality data for PaRe and ORCA: labelled world images (the authors use CIFAR-10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..data.world import _OFFSET, _RADIUS, ATTRIBUTES, Attributes, _grid, _shape_mask, render_many, sample_attributes
from ..errors import InvalidInputError

#: CLIP's image normalisation (open_clip.constants.OPENAI_DATASET_MEAN / _STD).
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class SourceData:
    """Normalised source images ``(n, 3, H, W)`` with integer labels, their class names and, optionally,
    object masks ``(n, H, W)`` in {0, 1} (the dense source objective's targets)."""

    images: torch.Tensor
    labels: torch.Tensor
    classnames: list[str]
    masks: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` random (image, label) pairs, drawn with replacement."""
        index = self.draw(count, generator)
        return self.images[index], self.labels[index]

    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` random sample indices, drawn with replacement."""
        return torch.randint(len(self), (count,), generator=generator)


def normalise_images(images: np.ndarray, mean: Sequence[float] = OPENAI_MEAN,
                     std: Sequence[float] = OPENAI_STD) -> torch.Tensor:
    """uint8 ``(n, H, W, 3)`` → float ``(n, 3, H, W)`` normalised per channel."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InvalidInputError(f"images must be (n, H, W, 3); got {images.shape}")
    x = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def world_source(count: int = 1000, label: str = "shape", image_size: int = 32, seed: int = 0,
                 mean: Sequence[float] = OPENAI_MEAN, std: Sequence[float] = OPENAI_STD) -> SourceData:
    """``count`` random world images labelled by one attribute (``shape`` by default: 6 classes)."""
    if label not in ATTRIBUTES:
        raise InvalidInputError(f"unknown label attribute {label!r}; choose one of {sorted(ATTRIBUTES)}")
    rng = np.random.default_rng(seed)
    attrs = [sample_attributes(rng) for _ in range(count)]
    classnames = list(ATTRIBUTES[label])
    labels = torch.tensor([classnames.index(getattr(a, label)) for a in attrs], dtype=torch.long)
    images = normalise_images(render_many(attrs, size=image_size, seed=seed), mean, std)
    masks = torch.as_tensor(np.stack([object_mask(a, image_size) for a in attrs]), dtype=torch.float32)
    return SourceData(images, labels, classnames, masks)


def object_mask(attrs: Attributes, size: int) -> np.ndarray:
    """Where the object of a world image lies, ``(size, size)`` booleans (the renderer's geometry,
    without its sub-pixel jitter of at most 0.05 of the half-width)."""
    x, y = _grid(size)
    dx, dy = _OFFSET[attrs.position]
    return _shape_mask(attrs.shape, x - dx, y - dy, _RADIUS[attrs.size])
