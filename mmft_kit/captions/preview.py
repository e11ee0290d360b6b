"""Previewing a caption prompt: caption a few sample images one by one, timed, and summarise the captions."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..params.fields import PAPER_WORDS
from .generate import dataset_image, dataset_info, dataset_label
from .prompts import build_prompt
from .statistics import caption_statistics


def sample_indices(dataset, count: int, seed: int = 0) -> list[int]:
    """``count`` indices of ``dataset``, one class after the other (so few samples still cover many classes)."""
    labels = np.asarray([dataset_label(dataset, i) for i in range(len(dataset))])
    rng = np.random.default_rng(seed)
    queues = [list(rng.permutation(np.flatnonzero(labels == c))) for c in np.unique(labels)]
    chosen: list[int] = []
    while len(chosen) < min(count, len(labels)):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(int(queue.pop()))
    return chosen


def caption_rows(dataset, captions: Sequence[Sequence[str]], classnames: Sequence[str]) -> list[dict[str, str]]:
    """One image per class (:func:`sample_indices`) as a table row: its class and its captions."""
    return [{"class": classnames[dataset_label(dataset, i)], "captions of one image": " / ".join(captions[i])}
            for i in sample_indices(dataset, len(classnames))]


@dataclass
class CaptionSample:
    """One caption written for a preview: the image, its prompt, the caption and its generation time."""

    index: int
    class_name: str
    characteristic: str
    prompt: str
    caption: str
    seconds: float
    image: Any = field(default=None, repr=False)

    @property
    def words(self) -> int:
        return len(self.caption.split())


def preview_captions(dataset, indices: Sequence[int], captioner, characteristic: str = "visual",
                     words: int = PAPER_WORDS,
                     template: str | None = None, domain: str | None = None,
                     class_name: str | None = None) -> list[CaptionSample]:
    """Caption the images at ``indices`` one by one (to time each) with the prompt these settings make.

    ``domain`` / ``class_name`` replace the data set's domain and each image's class in the prompt.
    """
    classnames, own_domain = dataset_info(dataset)
    samples = []
    for index in indices:
        name = class_name or classnames[dataset_label(dataset, index)]
        prompt = build_prompt(name, domain or own_domain, characteristic, words, template)
        image = dataset_image(dataset, index)
        start = time.perf_counter()
        caption = captioner.caption([image], [prompt], [name])[0]
        samples.append(CaptionSample(index, name, characteristic, prompt, caption, time.perf_counter() - start,
                                     image))
    return samples


@dataclass
class CaptionPreview:
    """Captions of the same sample images for one or more characteristics, and their summary table."""

    samples: dict[str, list[CaptionSample]]
    summary: list[dict]

    @property
    def prompt(self) -> str:
        """The prompt of the first sample."""
        return next(iter(self.samples.values()))[0].prompt


def caption_preview(dataset, captioner, characteristics: Sequence[str] = ("visual",), samples: int = 4,
                    seed: int = 0, words: int = PAPER_WORDS, template: str | None = None, domain: str | None = None,
                    class_name: str | None = None, root: str | None = None) -> CaptionPreview:
    """Caption ``samples`` images of ``dataset`` (a data set or a registry name) once per characteristic.

    Returns:
        The samples by characteristic, and one summary row per characteristic and ``all``
        (:func:`~mmft_kit.captions.statistics.caption_statistics` plus ``seconds_per_caption``).
    """
    if isinstance(dataset, str):
        from ..data import get_dataset

        dataset = get_dataset(dataset, root=root, split="train")
    indices = sample_indices(dataset, samples, seed)
    by_characteristic = {c: preview_captions(dataset, indices, captioner, c, words, template, domain, class_name)
                         for c in characteristics}
    flat = [s for row in by_characteristic.values() for s in row]
    summary = caption_statistics(flat)
    for row in summary:
        chosen = [s for s in flat if row["characteristic"] in ("all", s.characteristic)]
        row["seconds_per_caption"] = float(np.mean([s.seconds for s in chosen]))
    return CaptionPreview(by_characteristic, summary)
