"""The world's pretraining corpus: images, each with several varied descriptions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .world import Attributes, describe, render, sample_attributes


@dataclass
class Corpus:
    """``images[i]`` is described by each of ``texts[i]``; ``attributes[i]`` are its ground truth.

    Consecutive runs of ``group_size`` images are *families*: variations of one random image
    in which each attribute was redrawn with probability ``resample``. A batch made of whole
    families holds hard negatives for every attribute, so a contrastive learner cannot get by
    on the easy global cues (colour, background) alone.
    """

    images: np.ndarray
    texts: list[list[str]]
    attributes: list[Attributes]
    group_size: int = 1

    def __len__(self) -> int:
        return len(self.images)


def _family(rng: np.random.Generator, size: int, resample: float) -> list[Attributes]:
    base = sample_attributes(rng).as_dict()
    members = []
    for _ in range(size):
        fixed = {k: v for k, v in base.items() if rng.random() >= resample}
        members.append(sample_attributes(rng, **fixed))
    return members


def make_corpus(n: int, seed: int = 0, image_size: int = 32, descriptions_per_image: int = 4,
                group_size: int = 1, resample: float = 0.5) -> Corpus:
    """Draw ``n`` world images (in families of ``group_size``) with ``descriptions_per_image`` descriptions each."""
    rng = np.random.default_rng(seed)
    if group_size == 1:
        attrs = [sample_attributes(rng) for _ in range(n)]
    else:
        attrs = [a for _ in range(-(-n // group_size)) for a in _family(rng, group_size, resample)][:n]
    images = (np.stack([render(a, size=image_size, rng=rng) for a in attrs]) if n
              else np.zeros((0, image_size, image_size, 3), np.uint8))
    texts = [[describe(a, rng) for _ in range(descriptions_per_image)] for a in attrs]
    return Corpus(images, texts, attrs, group_size)


