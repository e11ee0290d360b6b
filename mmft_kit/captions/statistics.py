"""What captions say: lengths, vocabulary, and how often they name their class and their characteristic's words."""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from ..data.world import ATTRIBUTES
from ..errors import InvalidInputError
from ..text import clean_classname
from .generate import dataset_info, dataset_label

#: Words that count as talking about a characteristic (the characteristic's own name always does).
CHARACTERISTIC_WORDS: dict[str, frozenset[str]] = {
    "shape": frozenset({"shape", "outline", "edge", "edges", "corner", "corners", "side", "sides", "round", "curved",
                        "straight", "pointed", "angle", "angles", "tips", "arms", "contour", *ATTRIBUTES["shape"]}),
    "texture": frozenset({"texture", "pattern", "surface", "fill", "grain", "grainy", "smooth", "rough", "stripes",
                          "dots", "noise", "noisy", "bands", *ATTRIBUTES["fill"]}),
    "visual": frozenset({"colour", "color", "bright", "dark", "light", *ATTRIBUTES["colour"], *ATTRIBUTES["shape"]}),
    "color": frozenset({"colour", "color", "bright", "dark", "light", "hue", *ATTRIBUTES["colour"]}),
}
_WORD = re.compile(r"[a-z]+")


def words_of(text: str) -> list[str]:
    """Lower-case words of ``text``."""
    return _WORD.findall(text.lower())


def characteristic_words(characteristic: str) -> frozenset[str] | None:
    """Words that talk about ``characteristic`` (:data:`CHARACTERISTIC_WORDS`); None for a characteristic
    without a word list, whose captions are then not measured (not counted as never on topic)."""
    return CHARACTERISTIC_WORDS.get(characteristic.lower())


def mentions_class(caption: str, class_name: str) -> bool:
    """Whether ``caption`` names the class (cleaned class name, as whole words)."""
    name = " ".join(words_of(clean_classname(class_name)))
    return bool(name) and f" {name} " in f" {' '.join(words_of(caption))} "


class CaptionRecord(NamedTuple):
    """One caption of one image."""

    index: int
    class_name: str
    characteristic: str
    caption: str


def caption_records(dataset, captions: Sequence[Sequence[str]], characteristics: Sequence[str]) -> list[CaptionRecord]:
    """Every caption of every image of ``dataset``; ``captions[i]`` holds image i's captions in the order
    of ``characteristics`` (as :func:`mmft_kit.captions.captions_for_dataset` returns them)."""
    classnames = dataset_info(dataset)[0]
    return [CaptionRecord(i, classnames[dataset_label(dataset, i)], c, caption)
            for i, own in enumerate(captions) for c, caption in zip(characteristics, own)]


def _word_rate(tokens: Sequence[set[str]], records: Sequence) -> float | None:
    """The share of captions using their characteristic's words, over those whose characteristic has a word
    list; None (not measured) when none has."""
    hits = [bool(t & words) for t, r in zip(tokens, records)
            if (words := characteristic_words(r.characteristic)) is not None]
    return float(np.mean(hits)) if hits else None


def caption_statistics(records: Iterable, clip_scores: Sequence[float] | None = None) -> list[dict]:
    """Per characteristic and for ``all``: captions, mean and median words, vocabulary, the share of captions
    naming the class and using the characteristic's words (None, not measured, for characteristics without
    a word list in :data:`CHARACTERISTIC_WORDS`), and (given one per record) the mean CLIP score.

    Args:
        records: items with ``class_name``, ``characteristic`` and ``caption`` (:class:`CaptionRecord`,
            :class:`mmft_kit.captions.preview.CaptionSample`).
        clip_scores: one image–caption score per record, or None.

    Returns:
        One row (dict) per characteristic, then the ``all`` row.
    """
    records = list(records)
    if not records:
        raise InvalidInputError("no captions to describe")
    if clip_scores is not None and len(clip_scores) != len(records):
        raise InvalidInputError(f"{len(records)} captions but {len(clip_scores)} CLIP scores")
    groups: dict[str, list[int]] = {}
    for position, record in enumerate(records):
        groups.setdefault(record.characteristic, []).append(position)
    groups["all"] = list(range(len(records)))
    rows = []
    for name, positions in groups.items():
        group = [records[i] for i in positions]
        lengths = [len(r.caption.split()) for r in group]
        tokens = [set(words_of(r.caption)) for r in group]
        rows.append({
            "characteristic": name,
            "captions": len(group),
            "mean_words": float(np.mean(lengths)),
            "median_words": float(np.median(lengths)),
            "vocabulary": len(set().union(*tokens)),
            "class_name_rate": float(np.mean([mentions_class(r.caption, r.class_name) for r in group])),
            "characteristic_word_rate": _word_rate(tokens, group),
        })
        if clip_scores is not None:
            rows[-1]["clip_score"] = float(np.mean([clip_scores[i] for i in positions]))
    return rows
