"""Downstream unimodal classification tasks built from the world.

Class names are invented words; each class is a *rule* over attributes (a glyph "vorn" is a
striped circle, whatever its colour). A caption that describes what the image shows therefore
carries information the class name alone does not: the situation the synthetic-captions paper
exploits. Domain-shifted variants draw the same classes in another style.

The suite spans what real few-shot benchmarks span: coarse 8-class tasks (glyphs, critters,
tiles, badges, like Pets or Caltech), a 12-class texture task on fine-grained pattern periods and
shades (weaves, like DTD), and many-class fine-grained tasks in clutter (beetles: 24 classes by
colour and a count of tiny marks; moths: 16 by shape, shade and pattern period; emblems: 36 by
shape and colour; like FGVC, Cars or SUN). How well the embedded CLIP knows each task's class
names is set where its corpus is made (``mmft_kit.data.corpus.NAME_RATES``).

:data:`CALIBRATION_TASKS` and :data:`HELD_OUT_TASKS` split the suite by domain (a domain's
classes and names never cross the split): the world and CLIP were calibrated on the first half
only, and checked on the second (``benchmarks/calibration.py``).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import DatasetNotFoundError, InvalidInputError
from .arrays import ArrayImageDataset
from .world import ATTRIBUTES, Attributes, render, sample_attributes

Rule = Mapping[str, str | tuple[str, ...]]


@dataclass(frozen=True)
class WorldTask:
    """A classification task: class name → attribute rule, plus constraints shared by all classes."""

    name: str
    domain: str
    classes: Mapping[str, Rule]
    shared: Rule = field(default_factory=dict)
    description: str = ""

    def fingerprint(self) -> str:
        """A short digest of the rules (classes and shared constraints) that decide the task's images."""
        rules = json.dumps({"classes": self.classes, "shared": self.shared}, sort_keys=True)
        return hashlib.sha256(rules.encode()).hexdigest()[:12]

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

_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple")
_SPOT_COUNTS = ("zero", "one", "two", "three")
_BEETLE_NAMES = (
    "kessa", "morrin", "tavel", "quibb",        # red, by spots 0-3
    "ploss", "narrik", "fendle", "joric",       # orange
    "wembly", "zandor", "huskin", "lorrow",     # yellow
    "grell", "vantor", "oppley", "snerk",       # green
    "dwemmer", "yalik", "corbin", "thessa",     # blue
    "brindo", "kuvel", "mottle", "rhenna",      # purple
)
_BEETLES = {name: {"colour": colour, "spots": spots}
            for name, (colour, spots) in zip(_BEETLE_NAMES, [(c, s) for c in _COLOURS for s in _SPOT_COUNTS])}
_WEAVE_NAMES = ("harl", "sinnet", "corda", "mesko", "tabbin", "purl_ore",
                "lisk", "fadro", "wennet", "olbry", "cassam", "trillo")
_WEAVES = {name: {"fill": fill, "period": period, "shade": shade}
           for name, (fill, period, shade) in zip(_WEAVE_NAMES, [(f, p, s) for f in ("striped", "dotted", "checkered")
                                                                 for p in ("narrow", "wide") for s in ("pale", "deep")])}
_MOTH_NAMES = ("ashwing", "belloc", "cindra", "dapple_moth", "emmet", "fourn", "gasko", "hollin",
               "irrow", "jessam", "kettle_moth", "lunnet", "marrow_moth", "nissel", "orrin", "pavo")
_MOTHS = {name: {"shape": shape, "shade": shade, "period": period}
          for name, (shape, shade, period) in zip(_MOTH_NAMES, [(h, s, p) for h in ("circle", "triangle", "diamond", "star")
                                                                for s in ("pale", "deep") for p in ("narrow", "wide")])}
_EMBLEM_NAMES = (
    "arden", "bastion", "coril", "dathe", "evren", "faro",        # circle, by colour
    "galen", "hestor", "ivory_keep", "jorum", "kestrel_mark", "lorne",  # square
    "madra", "nolan_seal", "orvis", "pellam", "quarrow", "rusken",  # triangle
    "sarnia", "tolland", "ulric", "vesper_crest", "wyck", "xandel",  # diamond
    "yorvin", "zeller", "abbot_cross", "brannock", "cadell", "dunmore",  # cross
    "elstar", "fenwick", "garrow", "halden", "istel", "jarrah",  # star
)
_EMBLEMS = {name: {"shape": shape, "colour": colour}
            for name, (shape, colour) in zip(_EMBLEM_NAMES, [(h, c) for h in ("circle", "square", "triangle", "diamond",
                                                                            "cross", "star") for c in _COLOURS])}
_CLEAN = {"clutter": "clean"}

#: The world's downstream tasks, by name.
WORLD_TASKS: dict[str, WorldTask] = {
    task.name: task
    for task in (
        WorldTask("glyphs", "glyph signs", _GLYPHS, {"style": "filled", "size": ("medium", "large"), **_CLEAN},
                  "sign-like glyphs: class = shape and fill pattern; colour, place and background vary"),
        WorldTask("glyphs_noisy", "glyph signs", _GLYPHS, {"style": "noisy", "size": ("medium", "large"), **_CLEAN},
                  "the glyphs in grainy, noisy photos (domain shift)"),
        WorldTask("critters", "critters", _CRITTERS, {"style": "filled", **_CLEAN},
                  "species-like critters: class = colour group and size; shape and pattern vary"),
        WorldTask("critters_noisy", "critters", _CRITTERS, {"style": "noisy", **_CLEAN},
                  "the critters in grainy, noisy photos (domain shift)"),
        WorldTask("tiles", "tiles", _TILES,
                  {"style": "filled", "shape": ("square", "diamond"), "size": "large", **_CLEAN},
                  "texture-like tiles: class = fill pattern and light or dark background"),
        WorldTask("badges", "badges", _BADGES, {"style": "filled", **_CLEAN},
                  "badges: class = shape and colour; size, pattern, place and background vary"),
        WorldTask("badges_outline", "badges", _BADGES, {"style": "outline", "size": ("medium", "large"), **_CLEAN},
                  "the badges drawn only in outline (domain shift)"),
        WorldTask("weaves", "weaves", _WEAVES,
                  {"style": "filled", "shape": ("square", "diamond"), "size": "large", **_CLEAN},
                  "woven swatches (12 classes): class = fill pattern, its period and the colour's shade"),
        WorldTask("beetles", "beetles", _BEETLES, {"style": "filled", "clutter": "cluttered"},
                  "beetles in clutter (24 classes): class = colour and the number of tiny marks"),
        WorldTask("moths", "moths", _MOTHS,
                  {"style": "filled", "fill": ("striped", "checkered"), "size": ("medium", "large"),
                   "clutter": "cluttered"},
                  "moths in clutter (16 classes): class = shape, the colour's shade and the pattern's period"),
        WorldTask("emblems", "emblems", _EMBLEMS, {"style": "filled", "clutter": "cluttered"},
                  "emblems in clutter (36 classes): class = shape and colour"),
    )
}

#: The tasks the world and CLIP were calibrated on (tuning seeds only) and those kept to check it.
CALIBRATION_TASKS = ("glyphs", "glyphs_noisy", "tiles", "weaves", "beetles")
HELD_OUT_TASKS = ("critters", "critters_noisy", "badges", "badges_outline", "moths", "emblems")

def class_attributes() -> tuple[str, ...]:
    """The attributes some world task's classes are defined by, in :data:`~mmft_kit.data.world.ATTRIBUTES` order."""
    used = {key for task in WORLD_TASKS.values() for rule in task.classes.values() for key in rule}
    return tuple(name for name in ATTRIBUTES if name in used)


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
