"""The world's pretraining corpus: images, each with several varied descriptions.

Like web alt-text, a description sometimes names what the image *is* in a task's own words: an
image that satisfies a class rule of a task domain (``mmft_kit.data.tasks``) is named by that
class's name in a share :data:`NAME_RATES` of its descriptions, with label noise (a wrong name of
the same domain in a share :data:`NAME_NOISE` of those). The rates decide how well the embedded
CLIP knows each task's class names, hence its zero-shot accuracy there, as the frequency of a
concept on the web does for real CLIP. With every rate 0 (:data:`UNKNOWN_NAMES`) no class name is
ever seen: the CLIP paper's near-chance regime for unseen words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..text import clean_classname
from .tasks import WORLD_TASKS
from .world import Attributes, describe, render, sample_attributes

#: Share of the descriptions of an image of a domain's class that name it, by task domain.
NAME_RATES: dict[str, float] = {
    "glyph signs": 0.3,
    "tiles": 0.5,
    "weaves": 0.3,
    "beetles": 0.15,
    "critters": 0.3,
    "badges": 0.5,
    "moths": 0.15,
    "emblems": 0.2,
}
#: Every domain at rate 0: the class names are unknown words to the CLIP.
UNKNOWN_NAMES: dict[str, float] = {domain: 0.0 for domain in NAME_RATES}
#: Share of the naming descriptions that give a wrong class of the same domain (web label noise).
NAME_NOISE = 0.1
#: Share of the descriptions that name each fine-grained attribute (counts, periods, shades).
FINE_RATE = 0.1
#: Share of the descriptions that say each of these coarse attributes (the others: 0.75). Alt-text is about what
#: is shown, seldom about its place in the frame or the rendering; and a CLIP that hears colour, background and
#: size in every description spends its features on them, so a cache of few-shot features (Tip-Adapter) sees
#: little else. Chosen on the calibration half only (README, "The second calibration round").
MENTION_RATES: dict[str, float] = {"position": 0.15, "style": 0.15, "fill": 0.9, "colour": 0.2, "background": 0.2,
                                   "size": 0.2}
_NAMING = ("a photo of a {name}, {text}", "{text}, a {name}", "{name}: {text}")


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


def domain_classes() -> dict[str, dict[str, dict]]:
    """Every task domain's classes: ``{domain: {clean class name: rule}}`` (tasks of one domain share them)."""
    domains: dict[str, dict[str, dict]] = {}
    for task in WORLD_TASKS.values():
        domains.setdefault(task.domain, {clean_classname(n): dict(r) for n, r in task.classes.items()})
    return domains


def _satisfies(attrs: Attributes, rule: Mapping) -> bool:
    return all(getattr(attrs, k) in ((v,) if isinstance(v, str) else v) for k, v in rule.items())


def class_names_of(attrs: Attributes, domains: Mapping[str, Mapping[str, Mapping]]) -> dict[str, str]:
    """``{domain: class name}`` for every domain of ``domains`` (:func:`domain_classes`) with a class whose rule
    ``attrs`` satisfy."""
    return {domain: name for domain, classes in domains.items()
            for name, rule in classes.items() if _satisfies(attrs, rule)}


def name_classes(text: str, attrs: Attributes, rng: np.random.Generator, rates: Mapping[str, float],
                 domains: Mapping[str, Mapping[str, Mapping]], noise: float = NAME_NOISE) -> str:
    """``text`` with the class name of each domain ``attrs`` belong to added at that domain's rate."""
    for domain, name in class_names_of(attrs, domains).items():
        if rng.random() >= rates.get(domain, 0.0):
            continue
        if rng.random() < noise:
            others = [n for n in domains[domain] if n != name]
            name = others[rng.integers(len(others))]
        text = _NAMING[rng.integers(len(_NAMING))].format(name=name, text=text)
    return text


def _family(rng: np.random.Generator, size: int, resample: float) -> list[Attributes]:
    base = sample_attributes(rng).as_dict()
    members = []
    for _ in range(size):
        fixed = {k: v for k, v in base.items() if rng.random() >= resample}
        members.append(sample_attributes(rng, **fixed))
    return members


def make_corpus(n: int, seed: int = 0, image_size: int = 32, descriptions_per_image: int = 4,
                group_size: int = 1, resample: float = 0.5, name_rates: Mapping[str, float] = NAME_RATES,
                fine_rate: float = FINE_RATE, mention_rates: Mapping[str, float] = MENTION_RATES) -> Corpus:
    """Draw ``n`` world images (in families of ``group_size``) with ``descriptions_per_image`` descriptions each,
    naming the classes at ``name_rates``, the fine-grained attributes at ``fine_rate`` and the attributes of
    ``mention_rates`` at theirs."""
    rng = np.random.default_rng(seed)
    if group_size == 1:
        attrs = [sample_attributes(rng) for _ in range(n)]
    else:
        attrs = [a for _ in range(-(-n // group_size)) for a in _family(rng, group_size, resample)][:n]
    images = (np.stack([render(a, size=image_size, rng=rng) for a in attrs]) if n
              else np.zeros((0, image_size, image_size, 3), np.uint8))
    domains = domain_classes()
    texts = [[name_classes(describe(a, rng, fine=fine_rate, rates=mention_rates), a, rng, name_rates, domains)
              for _ in range(descriptions_per_image)] for a in attrs]
    return Corpus(images, texts, attrs, group_size)
