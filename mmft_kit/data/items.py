"""Reading one item of any of the kit's data sets without its transform: image, label, file, class names."""

from __future__ import annotations

from PIL import Image
from torch.utils.data import Dataset, Subset

from ..errors import InvalidInputError


def dataset_image(dataset: Dataset, index: int) -> Image.Image:
    """The untransformed PIL image at ``index``.

    Args:
        dataset: a data set with ``.image(index)``, a ``Subset`` of one, or one whose items are
            ``(PIL image, label)`` (loaded without a transform).
        index: the item.

    Returns:
        The image as the data set decodes it.
    """
    if hasattr(dataset, "image"):
        return dataset.image(index)
    if isinstance(dataset, Subset):
        return dataset_image(dataset.dataset, dataset.indices[index])
    item = dataset[index][0]
    if not isinstance(item, Image.Image):
        raise InvalidInputError(
            f"captioning needs PIL images, but the data set's items hold {type(item).__name__}: "
            "load it without a transform (or give it an .image(index) method)"
        )
    return item


def dataset_label(dataset: Dataset, index: int) -> int:
    """The label at ``index`` (from ``.targets`` when present, without loading the image)."""
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return int(targets[index])
    if isinstance(dataset, Subset):
        return dataset_label(dataset.dataset, dataset.indices[index])
    return int(dataset[index][1])


def dataset_info(dataset: Dataset) -> tuple[list[str], str]:
    """The data set's class names and domain (the words a caption prompt uses for its kind of photo)."""
    while not hasattr(dataset, "classnames") and isinstance(dataset, Subset):
        dataset = dataset.dataset
    classnames, domain = getattr(dataset, "classnames", None), getattr(dataset, "domain", None)
    if not classnames or not domain:
        raise InvalidInputError(
            "captioning needs a data set with .classnames and .domain (as mmft_kit.data.get_dataset returns); "
            f"{type(dataset).__name__} lacks them"
        )
    return list(classnames), str(domain)


def dataset_name(dataset: Dataset) -> str | None:
    """The data set's ``.name`` (looked up through ``Subset`` wrappers), or None."""
    while getattr(dataset, "name", None) is None and isinstance(dataset, Subset):
        dataset = dataset.dataset
    name = getattr(dataset, "name", None)
    return None if name is None else str(name)


def item_path(dataset: Dataset, index: int) -> str | None:
    """The file behind item ``index`` when the data set records one (torchvision's ``samples`` and kin)."""
    if isinstance(dataset, Subset):
        return item_path(dataset.dataset, dataset.indices[index])
    for attr in ("samples", "_samples", "_image_files", "_images"):
        items = getattr(dataset, attr, None)
        if items is not None and index < len(items):
            item = items[index]
            return str(item[0] if isinstance(item, tuple) else item)
    return None
