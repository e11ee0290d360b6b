"""What captions say: lengths, vocabulary, and how often they name their class and their characteristic's words."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence

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
    "color": frozenset({"colour", "color", "coloured", "colored", "bright", "dark", "light", "hue", "tone", "shade",
                        *ATTRIBUTES["colour"], "crimson", "amber", "golden", "emerald", "cobalt", "violet"}),
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


# --- realism: the statistics of CALIBRATION.md section 3, for any captioner --------------------------------

#: Colour words (the world's and the common ones real captions use).
COLOUR_WORDS = frozenset({
    "red", "orange", "yellow", "green", "blue", "purple", "violet", "pink", "white", "black", "grey", "gray", "brown",
    "teal", "crimson", "scarlet", "amber", "golden", "gold", "tangerine", "lemon", "emerald", "cobalt", "azure", "plum",
    "beige", "tan", "cream", "silver", "cyan", "magenta", "maroon", "navy", "turquoise", "ivory", "lavender", "ochre",
    "rust", "bronze", "copper", "khaki", "olive", "coral", "fawn", "ginger", "tawny", "lilac", "mauve", "burgundy",
})
#: Adjectives of surface and pattern.
TEXTURE_ADJECTIVES = frozenset({
    "smooth", "rough", "soft", "coarse", "grainy", "crisp", "glossy", "shiny", "matte", "sleek", "silky", "fluffy",
    "fuzzy", "furry", "shaggy", "velvety", "bumpy", "wrinkled", "textured", "patterned", "striped", "dotted",
    "spotted", "speckled", "checkered", "chequered", "banded", "mottled", "plain", "uniform", "solid", "flat", "noisy",
    "woven", "fibrous", "porous", "wiry", "wavy", "knitted", "scaly", "feathery", "plush", "waxy", "grooved",
    "ridged", "veined", "marbled", "crinkled", "dense",
})
#: Words of outline and geometry.
SHAPE_WORDS = frozenset({
    "shape", "shaped", "shapes", "outline", "silhouette", "contour", "contours", "edge", "edges", "corner", "corners",
    "circle", "circular", "round", "rounded", "square", "triangle", "triangular", "diamond", "rhombus", "rhombic",
    "cross", "star", "oval", "rectangle", "rectangular", "elongated", "pointed", "angular", "curved", "spherical",
    "wedge", "tapering", "tapered", "cylindrical", "geometric", "boxy", "blocky", "spiky", "apex", "symmetrical",
    "symmetric", "disc", "cone", "conical", "heart",
})
#: Words that mention the scene or background.
SCENE_WORDS = frozenset({
    "background", "backdrop", "setting", "scene", "surroundings", "surrounding", "environment", "grass", "floor",
    "ground", "carpet", "sofa", "couch", "blanket", "bed", "indoors", "outdoors", "sky", "foliage", "garden", "wall",
})
#: Words that hedge ("appears" is counted on its own).
HEDGE_WORDS = frozenset({"likely", "may", "might", "possibly", "perhaps", "probably", "seems", "seem", "suggests",
                         "suggesting", "could", "presumably", "apparently"})
_REFUSAL = re.compile(r"\b(i can ?not|i can't|i'm sorry|i am sorry|unable to (see|determine|identify|describe)|"
                      r"as an ai)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*")


class Band(NamedTuple):
    """A statistic's target range (CALIBRATION.md section 3), and the characteristics it applies to (None: all)."""

    low: float
    high: float
    characteristics: tuple[str, ...] | None = None


#: The target of each realism statistic, for captions asked for in 50 words.
REALISM_BANDS: dict[str, Band] = {
    "mean_words": Band(40, 48),
    "spread_words": Band(9, 26),  # p90 - p10 (Gemini 33-46, Qwen 37-63)
    "clip_over_77": Band(0, 0.08),
    "sentences": Band(2.5, 3.0),
    "capitalised": Band(0.99, 1.0),
    "class_name": Band(0.80, 0.99),
    "class_in_first_sentence": Band(0.80, 0.99),
    "category_word": Band(0.35, 0.95),
    "colour_words": Band(0.10, 0.55, ("shape",)),
    "texture_adjectives": Band(0.50, 0.80, ("shape",)),
    "texture_colour_words": Band(0.20, 0.75, ("texture",)),
    "texture_shape_words": Band(0.15, 0.45, ("texture",)),
    "scene_visual": Band(0.29, 0.87, ("visual",)),
    "scene_shape": Band(0.03, 0.50, ("shape",)),
    "scene_texture": Band(0.17, 0.48, ("texture",)),
    "distinct": Band(0.999, 1.0),
    "jaccard_within_class": Band(0.21, 0.39),
    "jaccard_across_classes": Band(0.13, 0.24),
    "hedges": Band(0.05, 0.10),
    "appears_texture": Band(0.25, 0.90, ("texture",)),
    "refusals": Band(0.0, 0.0),
}


def sentences_of(caption: str) -> list[str]:
    """The sentences of a caption (split after ``.``, ``!``, ``?`` and at line breaks)."""
    return [s for s in _SENTENCE_END.split(caption.strip()) if re.search(r"[A-Za-z]", s)]


def category_forms(domain: str) -> frozenset[str]:
    """Singular and plural of a domain's last noun ("glyph signs" → {"sign", "signs"})."""
    words = words_of(domain)
    if not words:
        return frozenset()
    last = words[-1]
    singular = last[:-1] if last.endswith("s") and not last.endswith("ss") else last
    return frozenset({singular, singular + "s", last})


def _rate(flags) -> float:
    flags = list(flags)
    return float(np.mean(flags)) if flags else float("nan")


def _mean_jaccard(sets: list[set[str]], pairs: list[tuple[int, int]]) -> float:
    return _rate(len(sets[i] & sets[j]) / max(1, len(sets[i] | sets[j])) for i, j in pairs)


def _pairs(labels: list[str], same: bool, rng: np.random.Generator, count: int) -> list[tuple[int, int]]:
    """Up to ``count`` random pairs of distinct captions with the same (or different) class."""
    n = len(labels)
    if n < 2:
        return []
    first, second = rng.integers(n, size=4 * count), rng.integers(n, size=4 * count)
    keep = [(int(i), int(j)) for i, j in zip(first, second)
            if i != j and (labels[i] == labels[j]) == same]
    return keep[:count]


def realism_statistics(records: Iterable, category_words: Iterable[str] = (),
                       token_count: Callable[[str], int] | None = None, seed: int = 0,
                       pairs: int = 2000) -> dict[str, dict[str, float]]:
    """The realism statistics of CALIBRATION.md section 3, per characteristic.

    Args:
        records: items with ``class_name``, ``characteristic`` and ``caption``.
        category_words: words that name the data set's category ("glyph", "sign" ...; see :func:`category_forms`).
        token_count: a caption's CLIP token count (start and end tokens included); without it the
            ``clip_over_77`` statistic is left out.
        seed: seed of the caption pairs the word overlap is measured on.
        pairs: how many pairs within and across classes.

    Returns:
        ``{characteristic: {statistic: value}}``; statistics named as in :data:`REALISM_BANDS`.
    """
    groups: dict[str, list] = {}
    for record in records:
        groups.setdefault(record.characteristic, []).append(record)
    if not groups:
        raise InvalidInputError("no captions to measure")
    category = frozenset(w.lower() for w in category_words)
    out = {}
    for characteristic, group in groups.items():
        rng = np.random.default_rng(seed)
        captions = [r.caption for r in group]
        word_sets = [set(words_of(c)) for c in captions]
        lengths = np.array([len(words_of(c)) for c in captions])
        sentences = [sentences_of(c) for c in captions]
        labels = [clean_classname(r.class_name) for r in group]
        stats = {
            "captions": len(group),
            "mean_words": float(lengths.mean()),
            "spread_words": float(np.percentile(lengths, 90) - np.percentile(lengths, 10)),
            "sentences": float(np.mean([len(s) for s in sentences])),
            "capitalised": _rate(s[0].lstrip("*\"'(").strip()[:1].isupper() for ss in sentences for s in ss),
            "class_name": _rate(mentions_class(c, r.class_name) for c, r in zip(captions, group)),
            "class_in_first_sentence": _rate(bool(s) and mentions_class(s[0], r.class_name)
                                             for s, r in zip(sentences, group)),
            "category_word": _rate(bool(w & category) for w in word_sets) if category else float("nan"),
            "colour_words": _rate(bool(w & COLOUR_WORDS) for w in word_sets),
            "texture_adjectives": _rate(bool(w & TEXTURE_ADJECTIVES) for w in word_sets),
            "shape_words": _rate(bool(w & SHAPE_WORDS) for w in word_sets),
            "scene": _rate(bool(w & SCENE_WORDS) for w in word_sets),
            "distinct": len(set(captions)) / len(captions),
            "jaccard_within_class": _mean_jaccard(word_sets, _pairs(labels, True, rng, pairs)),
            "jaccard_across_classes": _mean_jaccard(word_sets, _pairs(labels, False, rng, pairs)),
            "hedges": _rate(bool(w & HEDGE_WORDS) for w in word_sets),
            "appears": _rate(bool(w & {"appears", "appear"}) for w in word_sets),
            "refusals": _rate(bool(_REFUSAL.search(c)) for c in captions),
        }
        if token_count is not None:
            stats["clip_over_77"] = _rate(token_count(c) > 77 for c in captions)
        stats["texture_colour_words"] = stats["colour_words"]
        stats["texture_shape_words"] = stats["shape_words"]
        stats["scene_" + characteristic] = stats["scene"]
        stats["appears_texture"] = stats["appears"]
        out[characteristic] = stats
    return out


def realism_table(statistics: dict[str, dict[str, float]]) -> list[dict]:
    """One row per (characteristic, banded statistic): the value, its band and whether it lies inside.

    Args:
        statistics: :func:`realism_statistics`'s result.

    Returns:
        Rows with ``characteristic``, ``statistic``, ``value``, ``low``, ``high``, ``inside``.
    """
    rows = []
    for characteristic, stats in statistics.items():
        for name, band in REALISM_BANDS.items():
            if band.characteristics is not None and characteristic not in band.characteristics:
                continue
            value = stats.get(name, float("nan"))
            rows.append({"characteristic": characteristic, "statistic": name, "value": value, "low": band.low,
                         "high": band.high, "inside": bool(band.low - 1e-9 <= value <= band.high + 1e-9)})
    return rows


def realism_share(rows: list[dict]) -> dict[str, float]:
    """Per characteristic: the share of its measured banded statistics inside their band."""
    shares: dict[str, list[bool]] = {}
    for row in rows:
        if not np.isnan(row["value"]):
            shares.setdefault(row["characteristic"], []).append(row["inside"])
    return {c: float(np.mean(v)) for c, v in shares.items()}


class CaptionText(NamedTuple):
    """A caption with what the realism statistics need to know about it."""

    class_name: str
    characteristic: str
    caption: str


_AUTHOR_FILE = re.compile(r"(visual|shape|texture|color|colour|context|spatial)caption", re.IGNORECASE)


def _class_from_file_name(name: str) -> str:
    """The class in an image file name as the MMFT authors key captions ("Bombay_113.jpg" → "Bombay")."""
    stem = re.sub(r"\.[A-Za-z0-9]+$", "", name.rsplit("/", 1)[-1])
    return re.sub(r"[_-]?\d+$", "", stem) or stem


def read_caption_texts(path: str | Path, characteristic: str | None = None) -> list[CaptionText]:
    """Captions of a kit caption store (JSONL with a header) or of an MMFT authors' caption file.

    An authors' file is one JSON object from image file name to caption; the class is the file name
    without its number ("Bombay_113.jpg" → "Bombay") and the characteristic comes from the file name
    ("ShapeCaption.json" → "shape") unless given.

    Args:
        path: the file.
        characteristic: the characteristic of an authors' file (overrides the file name's).

    Returns:
        One :class:`CaptionText` per caption.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"caption file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        lines = [json.loads(line) for line in text.splitlines()[1:] if line.strip()]
        if not lines or not all(isinstance(r, dict) and "caption" in r for r in lines):
            raise InvalidInputError(f"{path} is neither a caption store (JSONL) nor a JSON object of captions")
        return [CaptionText(str(r.get("class", "")), str(r.get("characteristic", characteristic or "visual")),
                            str(r["caption"])) for r in lines]
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise InvalidInputError(f"{path} must hold one JSON object from image file name to caption")
    if characteristic is None:
        found = _AUTHOR_FILE.search(path.name)
        characteristic = found.group(1).lower() if found else "visual"
    return [CaptionText(_class_from_file_name(name), characteristic, caption) for name, caption in data.items()]


def length_following(mean_words: dict[int, float], tolerance: float = 0.3, from_words: int = 25) -> dict:
    """Whether mean caption length follows the word budget: monotone over budgets, and within
    ``tolerance`` of the budget from ``from_words`` up.

    Args:
        mean_words: budget → mean words of the captions asked for it.

    Returns:
        ``monotone``, ``within`` (both bools) and ``worst_ratio`` (mean / budget farthest from 1, from ``from_words`` up).
    """
    budgets = sorted(mean_words)
    lengths = [mean_words[b] for b in budgets]
    ratios = [mean_words[b] / b for b in budgets if b >= from_words]
    worst = max(ratios, key=lambda r: abs(r - 1.0)) if ratios else float("nan")
    return {"monotone": all(a < b for a, b in zip(lengths, lengths[1:])),
            "within": bool(ratios) and all(abs(r - 1.0) <= tolerance for r in ratios), "worst_ratio": worst}
