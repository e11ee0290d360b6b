"""The world's pretraining corpus: images, each with several varied descriptions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .world import Attributes, describe, render, sample_attributes


@dataclass
class Corpus:
    """``images[i]`` is described by each of ``texts[i]``; ``attributes[i]`` are its ground truth."""

    images: np.ndarray
    texts: list[list[str]]
    attributes: list[Attributes]

    def __len__(self) -> int:
        return len(self.images)


def make_corpus(n: int, seed: int = 0, image_size: int = 32, descriptions_per_image: int = 4) -> Corpus:
    """Draw ``n`` random world images with ``descriptions_per_image`` descriptions each."""
    rng = np.random.default_rng(seed)
    attrs = [sample_attributes(rng) for _ in range(n)]
    images = np.stack([render(a, size=image_size, rng=rng) for a in attrs]) if n else np.zeros(
        (0, image_size, image_size, 3), np.uint8)
    texts = [[describe(a, rng) for _ in range(descriptions_per_image)] for a in attrs]
    return Corpus(images, texts, attrs)
