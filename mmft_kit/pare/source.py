"""Source-modality data for PaRe and ORCA: labelled world images (the authors use CIFAR-10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..data.world import ATTRIBUTES, render_many, sample_attributes
from ..errors import InvalidInputError

#: CLIP's image normalisation (open_clip.constants.OPENAI_DATASET_MEAN / _STD).
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class SourceData:
    """Normalised source images ``(n, 3, H, W)`` with integer labels and their class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classnames: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classnames)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` random (image, label) pairs, drawn with replacement."""
        index = torch.randint(len(self), (count,), generator=generator)
        return self.images[index], self.labels[index]


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
    return SourceData(images, labels, classnames)


def source_from_arrays(images: np.ndarray | torch.Tensor, labels: Sequence[int],
                       classnames: Sequence[str] | None = None) -> SourceData:
    """Source data from the user's images: uint8 ``(n, H, W, 3)`` (normalised here) or float ``(n, 3, H, W)``."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        tensor = normalise_images(images)
    else:
        tensor = torch.as_tensor(images).float()
    if tensor.dim() != 4 or tensor.shape[1] != 3:
        raise InvalidInputError(
            f"source images must be (n, 3, H, W) floats or (n, H, W, 3) uint8; got {tuple(tensor.shape)}")
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(labels_t) != len(tensor):
        raise InvalidInputError(f"{len(tensor)} source images but {len(labels_t)} labels")
    names = list(classnames) if classnames is not None else [str(i) for i in range(int(labels_t.max()) + 1)]
    return SourceData(tensor, labels_t, names)
