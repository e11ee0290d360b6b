"""The data set registry: a name (or a folder) → an image classification data set.

Every data set it returns gives ``(transform(PIL RGB image), label)`` items, as torchvision's
do, and carries ``classnames`` (index → name), ``domain`` (the words a caption prompt uses
for its kind of photo) and ``targets`` (every item's label). Names:

* the world tasks (``mmft_kit.data.WORLD_TASKS``): splits train / val / test, rendered;
* ``digits``: scikit-learn's handwritten digits, splits train / test;
* the 13 benchmarks of the synthetic-captions paper (``mmft_kit.data.BENCHMARKS``), read
  from ``root`` through torchvision, never downloaded;
* the world tasks' shifted variants (``mmft_kit.data.SHIFTED_TASKS``, e.g. ``glyphs-noise``);
* ImageNet's shift test sets ``imagenet_v2``, ``imagenet_sketch``, ``imagenet_a``, ``imagenet_r``
  (``mmft_kit.data.IMAGENET_VARIANTS``), read from ``root``;
* any ImageFolder path (one subfolder per class); with ``train/``, ``val/`` or ``test/``
  subfolders, ``split`` picks one of them, else the folder itself is the train split.

:func:`available_splits` tells which splits a name has. Where there is no ``val``, hold out
part of train with :func:`mmft_kit.data.train_val_split`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from torch.utils.data import Dataset

from ..errors import DatasetNotFoundError, InvalidInputError
from .digits import DIGITS_SPLITS, make_digits
from .few_shot import LabelledSubset
from .imagenet_variants import IMAGENET_VARIANTS, load_imagenet_variant, variant_name
from .images import image_folder
from .paper_datasets import BENCHMARKS, benchmark_name, load_benchmark
from .shifts import SHIFTED_TASKS, make_shifted_task
from .tasks import SPLIT_SIZES, WORLD_TASKS, make_world_task

#: Domain of an ImageFolder when none is given.
IMAGE_FOLDER_DOMAIN = "general objects"
_FOLDER_SPLITS = ("train", "val", "test")


def list_datasets() -> list[str]:
    """The registered names: world tasks, ``digits`` and the paper's benchmarks (folders work too)."""
    return [*WORLD_TASKS, *SHIFTED_TASKS, "digits", *BENCHMARKS, *IMAGENET_VARIANTS]


def _unknown(name: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"unknown data set {name!r}; known names: {', '.join(list_datasets())}; "
        "or give the path of an ImageFolder (a folder with one subfolder of images per class)"
    )


def _folder(name: str, root: str | os.PathLike | None) -> Path | None:
    """The ImageFolder ``name`` points at (relative paths resolved under ``root``), or None."""
    path = Path(name).expanduser()
    if root is not None and not path.is_absolute():
        path = Path(root).expanduser() / path
    if path.is_dir():
        return path
    if os.sep in name or "/" in name or name.startswith((".", "~")):
        raise DatasetNotFoundError(
            f"no folder {path}: an ImageFolder data set is a folder with one subfolder of images per class"
        )
    return None


def image_folder_path(name: str, root: str | os.PathLike | None = None) -> Path | None:
    """The folder behind ``name`` when it names an image folder (the user's own images), not a registered
    data set; None otherwise (also for a path that does not exist: :func:`get_dataset` says so)."""
    if name in WORLD_TASKS or name in SHIFTED_TASKS or name == "digits" or variant_name(name) is not None \
            or benchmark_name(name) is not None:
        return None
    try:
        return _folder(name, root)
    except DatasetNotFoundError:
        return None


def _folder_splits(path: Path) -> tuple[str, ...]:
    present = tuple(s for s in _FOLDER_SPLITS if (path / s).is_dir())
    return present or ("train",)


def available_splits(name: str, root: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The splits :func:`get_dataset` accepts for ``name``."""
    if name in WORLD_TASKS or name in SHIFTED_TASKS:
        return tuple(SPLIT_SIZES)
    if (variant := variant_name(name)) is not None:
        return IMAGENET_VARIANTS[variant].splits
    if name == "digits":
        return DIGITS_SPLITS
    bench = benchmark_name(name)
    if bench is not None:
        return BENCHMARKS[bench].splits
    path = _folder(name, root)
    if path is None:
        raise _unknown(name)
    return _folder_splits(path)


def _load_folder(path: Path, split: str, transform: Callable | None, domain: str | None) -> LabelledSubset:
    splits = _folder_splits(path)
    has_split_folders = any((path / s).is_dir() for s in _FOLDER_SPLITS)
    if split not in splits:
        why = (f"its split subfolders are {splits}" if has_split_folders
               else "it has no train/val/test subfolders, so the folder itself is the train split")
        raise InvalidInputError(f"ImageFolder {path} has no split {split!r}: {why}")
    folder = path / split if has_split_folders else path
    classes = None
    if has_split_folders:  # one class list for all splits, so labels agree between them
        classes = sorted({e.name for s in splits for e in os.scandir(path / s) if e.is_dir()})
    try:
        ds = image_folder(folder, transform, classes)
    except FileNotFoundError as err:
        raise DatasetNotFoundError(
            f"{folder} is not a usable ImageFolder: {err}. Put the images in one subfolder per class: "
            f"{folder}/<class name>/<image>.png"
        ) from err
    return LabelledSubset(ds, range(len(ds)), ds.targets, ds.classes, domain or IMAGE_FOLDER_DOMAIN, name=str(folder))


def get_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    split: str = "train",
    transform: Callable | None = None,
    image_size: int = 32,
    seed: int = 0,
    domain: str | None = None,
) -> Dataset:
    """Load one split of a data set by name (see the module docstring for the names).

    ``image_size`` and ``seed`` shape the data sets the kit makes itself (world tasks are
    rendered at ``image_size`` from ``seed``; digits and data sets without a split are split
    with ``seed``); images from files come at their own size, for ``transform`` to resize.
    ``domain`` overrides the data set's domain string.
    """
    if name in WORLD_TASKS:
        ds = make_world_task(name, split=split, image_size=image_size, seed=seed, transform=transform)
    elif name in SHIFTED_TASKS:
        ds = make_shifted_task(name, split=split, image_size=image_size, seed=seed, transform=transform)
    elif (variant := variant_name(name)) is not None:
        return load_imagenet_variant(variant, root, split, transform=transform, domain=domain)
    elif name == "digits":
        ds = make_digits(split=split, image_size=image_size, seed=seed, transform=transform)
    elif (bench := benchmark_name(name)) is not None:
        return load_benchmark(bench, root, split, transform=transform, seed=seed, domain=domain)
    elif (path := _folder(name, root)) is not None:
        return _load_folder(path, split, transform, domain)
    else:
        raise _unknown(name)
    if domain is not None:
        ds.domain = domain
    return ds
