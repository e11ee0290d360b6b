"""Downstream unimodal classification tasks built from the world.

Class names are invented words; each class is a *rule* over attributes (a glyph "vorn" is a
striped circle, whatever its colour). A caption that describes what the image shows therefore
carries information the class name alone does not: the situation the synthetic-captions paper
exploits. Domain-shifted variants draw the same classes in another style.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import DatasetNotFoundError, InvalidInputError
from .arrays import ArrayImageDataset
from .world import Attributes, render, sample_attributes

Rule = Mapping[str, str | tuple[str, ...]]


@dataclass(frozen=True)
class WorldTask:
    """A classification task: class name → attribute rule, plus constraints shared by all classes."""

    name: str
    domain: str
    classes: Mapping[str, Rule]
    shared: Rule = field(default_factory=dict)
    description: str = ""

    def sample(self, label: int, rng: np.random.Generator) -> Attributes:
        rule = {**self.shared, **list(self.classes.values())[label]}
        return sample_attributes(rng, **rule)

    def label_of(self, attrs: Attributes) -> int | None:
        """The class whose rule ``attrs`` satisfy (None if none does)."""
        for index, rule in enumerate(self.classes.values()):
            merged = {**self.shared, **rule}
            if all(getattr(attrs, k) in ((v,) if isinstance(v, str) else v) for k, v in merged.items()):
                return index
        return None


_GLYPHS = {
    "vorn": {"shape": "circle", "fill": "striped"},
    "talis": {"shape": "circle", "fill": "solid"},
    "brekka": {"shape": "triangle", "fill": "dotted"},
    "quell": {"shape": "triangle", "fill": "checkered"},
    "mirrow": {"shape": "square", "fill": "striped"},
    "zentap": {"shape": "diamond", "fill": "solid"},
    "ossel": {"shape": "cross", "fill": "dotted"},
    "pry_sigil": {"shape": "star", "fill": "checkered"},
}
_CRITTERS = {
    "skarn": {"colour": "red", "size": "small"},
    "vellip": {"colour": "red", "size": "large"},
    "dromm": {"colour": ("orange", "yellow"), "size": "small"},
    "ixil": {"colour": ("orange", "yellow"), "size": "large"},
    "marsh_vell": {"colour": "green", "size": "small"},
    "dune-hopper": {"colour": "green", "size": "large"},
    "tarrow": {"colour": ("blue", "purple"), "size": "small"},
    "glimmick": {"colour": ("blue", "purple"), "size": "large"},
}
_TILES = {
    "lumen": {"fill": "solid", "background": ("white", "grey")},
    "obra": {"fill": "solid", "background": ("black", "teal")},
    "sett": {"fill": "striped", "background": ("white", "grey")},
    "kavi": {"fill": "striped", "background": ("black", "teal")},
    "nuro": {"fill": "dotted", "background": ("white", "grey")},
    "pell": {"fill": "dotted", "background": ("black", "teal")},
    "tesk": {"fill": "checkered", "background": ("white", "grey")},
    "varo": {"fill": "checkered", "background": ("black", "teal")},
}
_BADGES = {
    "aldrin": {"shape": "circle", "colour": "blue"},
    "brisk": {"shape": "circle", "colour": "red"},
    "corvo": {"shape": "star", "colour": "yellow"},
    "delm": {"shape": "star", "colour": "purple"},
    "ennet": {"shape": "cross", "colour": "green"},
    "fasko": {"shape": "cross", "colour": "red"},
    "gorro": {"shape": "square", "colour": "orange"},
    "hevin": {"shape": "triangle", "colour": "blue"},
}

#: The world's downstream tasks, by name.
WORLD_TASKS: dict[str, WorldTask] = {
    task.name: task
    for task in (
        WorldTask("glyphs", "glyph signs", _GLYPHS, {"style": "filled", "size": ("medium", "large")},
                  "sign-like glyphs: class = shape and fill pattern; colour, place and background vary"),
        WorldTask("glyphs_noisy", "glyph signs", _GLYPHS, {"style": "noisy", "size": ("medium", "large")},
                  "the glyphs in grainy, noisy photos (domain shift)"),
        WorldTask("critters", "critters", _CRITTERS, {"style": "filled"},
                  "species-like critters: class = colour group and size; shape and pattern vary"),
        WorldTask("critters_noisy", "critters", _CRITTERS, {"style": "noisy"},
                  "the critters in grainy, noisy photos (domain shift)"),
        WorldTask("tiles", "tiles", _TILES,
                  {"style": "filled", "shape": ("square", "diamond"), "size": "large"},
                  "texture-like tiles: class = fill pattern and light or dark background"),
        WorldTask("badges", "badges", _BADGES, {"style": "filled"},
                  "badges: class = shape and colour; size, pattern, place and background vary"),
        WorldTask("badges_outline", "badges", _BADGES, {"style": "outline", "size": ("medium", "large")},
                  "the badges drawn only in outline (domain shift)"),
    )
}

#: Images per class in each split of a world task.
SPLIT_SIZES = {"train": 48, "val": 16, "test": 40}


def _split_seed(task: str, split: str, seed: int) -> int:
    return zlib.crc32(f"{task}/{split}/{seed}".encode())


def make_world_task(
    name: str, split: str = "train", image_size: int = 32, seed: int = 0, per_class: int | None = None, transform=None
) -> ArrayImageDataset:
    """Render one split of a world task as a data set (deterministic for ``seed``)."""
    if name not in WORLD_TASKS:
        raise DatasetNotFoundError(f"unknown world task {name!r}; world tasks are {sorted(WORLD_TASKS)}")
    if split not in SPLIT_SIZES:
        raise InvalidInputError(f"unknown split {split!r}; choose one of {sorted(SPLIT_SIZES)}")
    task = WORLD_TASKS[name]
    per_class = SPLIT_SIZES[split] if per_class is None else per_class
    rng = np.random.default_rng(_split_seed(name, split, seed))
    labels = np.repeat(np.arange(len(task.classes)), per_class)
    rng.shuffle(labels)
    attrs = [task.sample(int(label), rng) for label in labels]
    images = np.stack([render(a, size=image_size, rng=rng) for a in attrs])
    return ArrayImageDataset(
        images, labels, list(task.classes), task.domain, transform=transform,
        attributes=[a.as_dict() for a in attrs], name=name,
    )
