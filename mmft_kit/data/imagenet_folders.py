"""ImageNet class folders: which folders a set may hold, and labels that are ImageNet-1k indices.

ImageNet and its shift sets name their class folders by WordNet id (``n01440764``), ImageNet-V2
by class index (``0`` … ``999``). A folder's label is the official ImageNet-1k index of its name,
looked up (never the folder's rank among its siblings), so every item and ``.targets`` agree on
the index a 1000-way head predicts. The WordNet ids in class order are timm's
(``timm.data.ImageNetInfo``, installed with open_clip).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from torch.utils.data import Dataset

from ..errors import InvalidInputError
from .images import image_folder


@lru_cache(maxsize=None)
def imagenet_wnids() -> tuple[str, ...]:
    """ImageNet-1k's 1000 WordNet ids in class-index order."""
    from timm.data import ImageNetInfo

    return tuple(ImageNetInfo("imagenet-1k").label_names())


#: V2's folder names: the class indices, as text.
IMAGENET_INDEX_NAMES: tuple[str, ...] = tuple(str(i) for i in range(1000))


def _listing(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def imagenet_class_folder(folder: Path, transform: Callable | None, names: Sequence[str], classes: Sequence[int],
                          what: str, complete: bool = True) -> Dataset:
    """An ImageFolder of ``folder`` whose labels are ImageNet-1k indices.

    Args:
        folder: one subfolder per class.
        transform: applied to each PIL image.
        names: the 1000 folder names in class-index order (WordNet ids, or V2's ``"0"`` … ``"999"``).
        classes: the ImageNet indices of the set's own classes.
        what: the set's title, for messages.
        complete: whether every one of the set's classes must have its folder.

    Returns:
        A torchvision ImageFolder whose items, ``targets`` and ``samples`` carry ImageNet-1k indices.

    Raises:
        InvalidInputError: naming the folders that are not the set's own classes (and, with
            ``complete``, the set's classes that have no folder).
    """
    own = {names[i] for i in classes}
    present = sorted(p.name for p in folder.iterdir() if p.is_dir())
    foreign = [n for n in present if n not in own]
    missing = sorted(own - set(present)) if complete else []
    if foreign or missing:
        said = [f"{len(foreign)} folder(s) that are not {what} classes: {_listing(foreign)}" if foreign else "",
                f"no folder for {len(missing)} of its {len(own)} classes: {_listing(missing)}" if missing else ""]
        raise InvalidInputError(f"{folder} has {' and '.join(s for s in said if s)}. {what} needs one folder per "
                                f"class, named as the official release names them; remove or rename the others")
    return image_folder(folder, transform, classes=names)
