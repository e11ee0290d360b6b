"""ImageNet's distribution-shift test sets, as FLYP, WiSE-FT and CoOp evaluate them, from a user root.

Every variant is a ``test`` split whose labels are ImageNet-1k indices and whose ``classnames``
are ImageNet's 1000 names, so a head built for ImageNet classifies it unchanged. ImageNet-A and
ImageNet-R hold 200 of the classes: their data sets carry ``class_subset``, the 200 ImageNet
indices, and evaluation restricts the logits to them (as WiSE-FT and FLYP do). Layouts under ROOT
(the files' own distributions; nothing is downloaded):

* ``imagenet_v2``: ``ROOT/imagenetv2-matched-frequency-format-val/<0..999>/*.jpeg`` (folders named by class index);
* ``imagenet_sketch``: ``ROOT/sketch/<wnid>/*`` (1000 WordNet-id folders);
* ``imagenet_a``: ``ROOT/imagenet-a/<wnid>/*`` (200 WordNet-id folders);
* ``imagenet_r``: ``ROOT/imagenet-r/<wnid>/*`` (200 WordNet-id folders).

Every item's label is the ImageNet-1k index of its folder's name (looked up, see
:mod:`mmft_kit.data.imagenet_folders`), equal to ``.targets``; a folder whose class folders are not
the set's own (other WordNet ids, or for A, R and Sketch some missing) is refused, naming them.
The subsets below are the ones published with ImageNet-A/R and used by WiSE-FT.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from ..errors import DatasetNotFoundError, InvalidInputError
from .few_shot import LabelledSubset
from .imagenet_folders import IMAGENET_INDEX_NAMES, imagenet_class_folder, imagenet_wnids
from .paper_datasets import Benchmark, Loaded, shipped_classnames

#: ImageNet indices of ImageNet-A's 200 classes.
IMAGENET_A_CLASSES: tuple[int, ...] = (
    6, 11, 13, 15, 17, 22, 23, 27, 30, 37, 39, 42, 47, 50, 57, 70, 71, 76, 79, 89, 90, 94, 96, 97, 99, 105, 107,
    108, 110, 113, 124, 125, 130, 132, 143, 144, 150, 151, 207, 234, 235, 254, 277, 283, 287, 291, 295, 298, 301,
    306, 307, 308, 309, 310, 311, 313, 314, 315, 317, 319, 323, 324, 326, 327, 330, 334, 335, 336, 347, 361, 363,
    372, 378, 386, 397, 400, 401, 402, 404, 407, 411, 416, 417, 420, 425, 428, 430, 437, 438, 445, 456, 457, 461,
    462, 470, 472, 483, 486, 488, 492, 496, 514, 516, 528, 530, 539, 542, 543, 549, 552, 557, 561, 562, 569, 572,
    573, 575, 579, 589, 606, 607, 609, 614, 626, 627, 640, 641, 642, 643, 658, 668, 677, 682, 684, 687, 701, 704,
    719, 736, 746, 749, 752, 758, 763, 765, 768, 773, 774, 776, 779, 780, 786, 792, 797, 802, 803, 804, 813, 815,
    820, 823, 831, 833, 835, 839, 845, 847, 850, 859, 862, 870, 879, 880, 888, 890, 897, 900, 907, 913, 924, 932,
    933, 934, 937, 943, 945, 947, 951, 954, 956, 957, 959, 971, 972, 980, 981, 984, 986, 987, 988,
)
#: ImageNet indices of ImageNet-R's 200 classes.
IMAGENET_R_CLASSES: tuple[int, ...] = (
    1, 2, 4, 6, 8, 9, 11, 13, 22, 23, 26, 29, 31, 39, 47, 63, 71, 76, 79, 84, 90, 94, 96, 97, 99, 100, 105, 107,
    113, 122, 125, 130, 132, 144, 145, 147, 148, 150, 151, 155, 160, 161, 162, 163, 171, 172, 178, 187, 195, 199,
    203, 207, 208, 219, 231, 232, 234, 235, 242, 245, 247, 250, 251, 254, 259, 260, 263, 265, 267, 269, 276, 277,
    281, 288, 289, 291, 292, 293, 296, 299, 301, 308, 309, 310, 311, 314, 315, 319, 323, 327, 330, 334, 335, 337,
    338, 340, 341, 344, 347, 353, 355, 361, 362, 365, 366, 367, 368, 372, 388, 390, 393, 397, 401, 407, 413, 414,
    425, 428, 430, 435, 437, 441, 447, 448, 457, 462, 463, 469, 470, 471, 472, 476, 483, 487, 515, 546, 555, 558,
    570, 579, 583, 587, 593, 594, 596, 609, 613, 617, 621, 629, 637, 657, 658, 701, 717, 724, 763, 768, 774, 776,
    779, 780, 787, 805, 812, 815, 820, 824, 833, 847, 852, 866, 875, 883, 889, 895, 907, 928, 931, 932, 933, 934,
    936, 937, 943, 945, 947, 948, 949, 951, 953, 954, 957, 963, 965, 967, 980, 981, 983, 988,
)
#: ImageNet indices of ImageNet-Sketch's (and ImageNet-V2's) classes: all 1000.
IMAGENET_CLASSES: tuple[int, ...] = tuple(range(1000))


def _v2(root: Path, split: str, transform, seed: int) -> Loaded:
    ds = imagenet_class_folder(root / "imagenetv2-matched-frequency-format-val", transform, IMAGENET_INDEX_NAMES,
                               IMAGENET_CLASSES, "ImageNet-V2", complete=False)
    return Loaded(ds, ds.targets, shipped_classnames("imagenet"))


def _wnid_loader(subfolder: str, classes: tuple[int, ...], what: str) -> Callable[..., Loaded]:
    def load(root: Path, split: str, transform, seed: int) -> Loaded:
        ds = imagenet_class_folder(root / subfolder, transform, imagenet_wnids(), classes, what)
        return Loaded(ds, ds.targets, shipped_classnames("imagenet"))

    return load


#: The variants, by the kit's name (their ``layout`` says where the files go).
IMAGENET_VARIANTS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("imagenet_v2", "ImageNet-V2 (matched frequency)", "general objects", ("test",),
                  "imagenetv2-matched-frequency-format-val",
                  "ROOT/imagenetv2-matched-frequency-format-val/<class index 0..999>/*.jpeg", _v2),
        Benchmark("imagenet_sketch", "ImageNet-Sketch", "sketches", ("test",), "sketch",
                  "ROOT/sketch/<wnid>/* (1000 WordNet-id folders)",
                  _wnid_loader("sketch", IMAGENET_CLASSES, "ImageNet-Sketch")),
        Benchmark("imagenet_a", "ImageNet-A", "general objects", ("test",), "imagenet-a",
                  "ROOT/imagenet-a/<wnid>/* (200 WordNet-id folders)",
                  _wnid_loader("imagenet-a", IMAGENET_A_CLASSES, "ImageNet-A")),
        Benchmark("imagenet_r", "ImageNet-R", "renditions", ("test",), "imagenet-r",
                  "ROOT/imagenet-r/<wnid>/* (200 WordNet-id folders)",
                  _wnid_loader("imagenet-r", IMAGENET_R_CLASSES, "ImageNet-R")),
    )
}
#: The 200-class subsets evaluation restricts the logits to.
CLASS_SUBSETS: dict[str, tuple[int, ...]] = {"imagenet_a": IMAGENET_A_CLASSES, "imagenet_r": IMAGENET_R_CLASSES}


def variant_name(name: str) -> str | None:
    """The kit's name of a variant, accepting spellings like "ImageNet-A" or "imagenetv2"; None if unknown."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    for canonical in IMAGENET_VARIANTS:
        if key == canonical.replace("_", ""):
            return canonical
    return None


def load_imagenet_variant(name: str, root: str | Path | None, split: str = "test",
                          transform: Callable | None = None, domain: str | None = None) -> LabelledSubset:
    """The ``test`` split of an ImageNet variant from ``root`` (never downloads).

    The result's ``class_subset`` is the list of ImageNet indices its images come from for A and R
    (logits outside it are ignored in evaluation), else ``None``.
    """
    bench = IMAGENET_VARIANTS[name]
    if split != "test":
        raise InvalidInputError(f"{bench.title} is a test set: it has only the split 'test', not {split!r}")
    where = f"root={str(root)!r}" if root is not None else "no root"
    if root is None or not (Path(root).expanduser() / bench.required).is_dir():
        detail = "pass root=, the folder that holds it" if root is None else \
            f"{Path(root).expanduser() / bench.required} does not exist"
        raise DatasetNotFoundError(f"{bench.title} ({name!r}) not found with {where}: {detail}. Downloads are off: "
                                   f"lay the files out as {bench.layout}, then pass root=ROOT.")
    try:
        loaded = bench.load(Path(root).expanduser(), split, transform, 0)
    except FileNotFoundError as err:
        raise DatasetNotFoundError(f"{bench.title} under {root} is not usable: {err}. Lay it out as {bench.layout}.") \
            from err
    subset = LabelledSubset(loaded.base, range(len(loaded.base)), loaded.targets, loaded.classnames,
                            domain or bench.domain, name=f"{name}/test")
    subset.class_subset = list(CLASS_SUBSETS[name]) if name in CLASS_SUBSETS else None
    return subset
