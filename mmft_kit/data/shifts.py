"""Shifted variants of the world tasks: the same classes drawn another way, for out-of-distribution tests.

A variant keeps its task's class names and class rules and changes what the rules leave free:

* ``noise`` — the renderer's ``noisy`` style (grain on every pixel);
* ``outline`` — the renderer's ``outline`` style (only where the classes do not depend on the fill
  pattern, which an outline hides);
* ``background`` — the flat background replaced by a two-colour gradient the world never shows
  (only where the classes do not depend on the background).

Names are ``"<task>-<shift>"`` (``glyphs-noise``, ``critters-background``, ...), registered in
:func:`mmft_kit.data.get_dataset` with the world tasks' splits and sizes. :func:`shifted_variants`
lists a task's variants. The world's renderer and tasks are used unchanged.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from ..errors import DatasetNotFoundError, InvalidInputError
from .arrays import ArrayImageDataset
from .tasks import SPLIT_SIZES, WORLD_TASKS, WorldTask
from .world import _BACKGROUND_RGB, render

#: Every shift and what it changes.
SHIFTS: dict[str, str] = {
    "noise": "grainy noisy rendering (the world's 'noisy' style)",
    "outline": "shapes drawn in outline only (the world's 'outline' style)",
    "background": "flat backgrounds replaced by unseen two-colour gradients",
}
#: The shifts of each base task (a shift is left out where it would erase what defines the classes).
TASK_SHIFTS: dict[str, tuple[str, ...]] = {
    "glyphs": ("noise", "background"),
    "critters": ("noise", "outline", "background"),
    "tiles": ("noise",),
    "badges": ("noise", "outline", "background"),
}


@dataclass(frozen=True)
class ShiftedTask:
    """A base world task and the shift applied to it."""

    name: str
    base: str
    shift: str

    @property
    def task(self) -> WorldTask:
        """The base task with its shared rule changed by a style shift."""
        base = WORLD_TASKS[self.base]
        if self.shift in ("noise", "outline"):
            style = {"noise": "noisy", "outline": "outline"}[self.shift]
            return replace(base, name=self.name, shared={**base.shared, "style": style},
                           description=f"{base.description}; shift: {SHIFTS[self.shift]}")
        return replace(base, name=self.name, shared={**base.shared, "style": "filled"},
                       description=f"{base.description}; shift: {SHIFTS[self.shift]}")


#: The registered variants, by name.
SHIFTED_TASKS: dict[str, ShiftedTask] = {
    f"{base}-{shift}": ShiftedTask(f"{base}-{shift}", base, shift)
    for base, shifts in TASK_SHIFTS.items() for shift in shifts
}


def shifted_variants(task: str) -> list[str]:
    """The names of the shifted variants of a world task (empty for a task without any)."""
    return [name for name, variant in SHIFTED_TASKS.items() if variant.base == task]


def _gradient_background(image: np.ndarray, background: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """``image`` with its pixels of colour ``background`` replaced by a random two-colour diagonal gradient."""
    size = image.shape[0]
    mask = np.all(image == np.array(background, dtype=np.uint8), axis=-1)
    start, end = rng.uniform(30, 225, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    coords = np.linspace(0.0, 1.0, size)
    x, y = np.meshgrid(coords, coords, indexing="xy")
    t = np.clip(0.5 + (x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle), 0, 1)[..., None]
    gradient = (1 - t) * start + t * end
    out = image.copy()
    out[mask] = gradient[mask].astype(np.uint8)
    return out


def make_shifted_task(name: str, split: str = "test", image_size: int = 32, seed: int = 0,
                      transform=None) -> ArrayImageDataset:
    """Render one split of a shifted variant (deterministic for ``seed``), with the base task's class names."""

    if name not in SHIFTED_TASKS:
        raise DatasetNotFoundError(f"unknown shifted task {name!r}; shifted tasks are {sorted(SHIFTED_TASKS)}")
    if split not in SPLIT_SIZES:
        raise InvalidInputError(f"unknown split {split!r}; choose one of {sorted(SPLIT_SIZES)}")
    variant = SHIFTED_TASKS[name]
    task = variant.task
    rng = np.random.default_rng(zlib.crc32(f"{name}/{split}/{seed}".encode()))
    labels = np.repeat(np.arange(len(task.classes)), SPLIT_SIZES[split])
    rng.shuffle(labels)
    attrs = [task.sample(int(label), rng) for label in labels]
    images = []
    for a in attrs:
        image = render(a, size=image_size, rng=rng)
        if variant.shift == "background":
            image = _gradient_background(image, _BACKGROUND_RGB[a.background], rng)
        images.append(image)
    return ArrayImageDataset(np.stack(images), labels, list(task.classes), task.domain, transform=transform,
                             attributes=[a.as_dict() for a in attrs], name=name)
