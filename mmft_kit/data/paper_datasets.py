"""Image data sets on disk: the 13 benchmarks of the synthetic-captions paper and ImageFolders.

Everything loads through torchvision with ``download=False``: the kit never downloads. Put
the files under a root folder of your choice (the layout each benchmark expects is in
``BENCHMARKS[name].layout``) and pass ``root=`` to :func:`mmft_kit.data.get_dataset`.

Splits are ``train`` / ``val`` / ``test`` where the data set defines them (Pets' ``trainval``
is our ``train``; ImageNet's ``val`` is our ``test``). EuroSAT and Caltech101 have no split and
get a stratified, seeded 70/30 train/test split; CUB-200 uses its official
``train_test_split.txt`` when it is there, else the same seeded split. Where no validation
split exists, hold out part of train with :func:`mmft_kit.data.train_val_split`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

from PIL import Image
from torch.utils.data import Dataset

from ..errors import DatasetNotFoundError, InvalidInputError, MMFTKitError
from .few_shot import LabelledSubset, stratified_split
from .imagenet_folders import imagenet_class_folder, imagenet_wnids
from .images import image_folder, load_rgb

#: Fraction of every class in the test split of a seeded split.
SEEDED_TEST_FRACTION = 0.3


@lru_cache(maxsize=None)
def shipped_classnames(name: str) -> list[str]:
    """A class-name list shipped with the kit (``mmft_kit/data/classnames/<name>.json``)."""
    text = resources.files("mmft_kit.data").joinpath("classnames", f"{name}.json").read_text(encoding="utf-8")
    return list(json.loads(text)["classnames"])


@dataclass
class Loaded:
    """What a benchmark loader returns: the torchvision data set, its labels and class names.

    ``indices`` selects the split's items from ``base`` when the split is made by the kit.
    """

    base: Dataset
    targets: Sequence[int]
    classnames: Sequence[str]
    indices: Sequence[int] | None = None


def _seeded(loaded: Loaded, split: str, seed: int) -> Loaded:
    train, test = stratified_split(loaded.targets, SEEDED_TEST_FRACTION, seed)
    loaded.indices = train if split == "train" else test
    return loaded


def _camel_words(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)


def _pets(root: Path, split: str, transform, seed: int) -> Loaded:
    from torchvision.datasets import OxfordIIITPet

    ds = OxfordIIITPet(str(root), split={"train": "trainval", "test": "test"}[split], target_types="category",
                       transform=transform, download=False)
    return Loaded(ds, ds._labels, ds.classes)


def _flowers(root: Path, split: str, transform, seed: int) -> Loaded:
    from torchvision.datasets import Flowers102

    ds = Flowers102(str(root), split=split, transform=transform, download=False, loader=load_rgb)
    return Loaded(ds, ds._labels, ds.classes)


def _dtd(root: Path, split: str, transform, seed: int) -> Loaded:
    from torchvision.datasets import DTD

    ds = DTD(str(root), split=split, partition=1, transform=transform, download=False, loader=load_rgb)
    return Loaded(ds, ds._labels, ds.classes)


def _gtsrb(root: Path, split: str, transform, seed: int) -> Loaded:
    from torchvision.datasets import GTSRB

    ds = GTSRB(str(root), split=split, transform=transform, download=False)
    return Loaded(ds, [label for _, label in ds._samples], shipped_classnames("gtsrb"))


def _cars(root: Path, split: str, transform, seed: int) -> Loaded:
    from torchvision.datasets import StanfordCars

    ds = StanfordCars(str(root), split=split, transform=transform, download=False, loader=load_rgb)
    return Loaded(ds, [label for _, label in ds._samples], ds.classes)


def _aircraft(root: Path, split: str, transform, seed: int) -> Loaded:
    from torchvision.datasets import FGVCAircraft

    ds = FGVCAircraft(str(root), split=split, annotation_level="variant", transform=transform, download=False,
                      loader=load_rgb)
    return Loaded(ds, ds._labels, ds.classes)


def _cifar(cls_name: str) -> Callable[..., Loaded]:
    def load(root: Path, split: str, transform, seed: int) -> Loaded:
        import torchvision.datasets

        ds = getattr(torchvision.datasets, cls_name)(str(root), train=split == "train", transform=transform,
                                                      download=False)
        return Loaded(ds, ds.targets, ds.classes)

    return load


def _imagenet(root: Path, split: str, transform, seed: int) -> Loaded:
    folder = root / "imagenet" / {"train": "train", "test": "val"}[split]
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    ds = imagenet_class_folder(folder, transform, imagenet_wnids(), range(1000), "ImageNet-1k")
    return Loaded(ds, ds.targets, shipped_classnames("imagenet"))


def _eurosat(root: Path, split: str, transform, seed: int) -> Loaded:
    from torchvision.datasets import EuroSAT

    ds = EuroSAT(str(root), transform=transform, download=False, loader=load_rgb)
    return _seeded(Loaded(ds, ds.targets, [_camel_words(c) for c in ds.classes]), split, seed)


@dataclass(frozen=True)
class _RGBThen:
    """Convert to RGB, then apply ``transform`` (for torchvision data sets that skip the conversion)."""

    transform: Callable | None

    def __call__(self, image: Image.Image):
        image = image.convert("RGB")
        return image if self.transform is None else self.transform(image)


def _caltech101(root: Path, split: str, transform, seed: int) -> Loaded:
    from torchvision.datasets import Caltech101

    # torchvision's Caltech101 returns its greyscale images unconverted
    ds = Caltech101(str(root), target_type="category", transform=_RGBThen(transform), download=False)
    return _seeded(Loaded(ds, ds.y, [c.replace("_", " ") for c in ds.categories]), split, seed)


def _food101(root: Path, split: str, transform, seed: int) -> Loaded:
    from torchvision.datasets import Food101

    ds = Food101(str(root), split=split, transform=transform, download=False, loader=load_rgb)
    return Loaded(ds, ds._labels, ds.classes)


def _cub(root: Path, split: str, transform, seed: int) -> Loaded:
    base = root / "CUB_200_2011"
    ds = image_folder(base / "images", transform)
    names = [c.split(".", 1)[-1].replace("_", " ") for c in ds.classes]  # "001.Black_footed_Albatross"
    loaded = Loaded(ds, ds.targets, names)
    index_file, split_file = base / "images.txt", base / "train_test_split.txt"
    if not (index_file.is_file() and split_file.is_file()):
        return _seeded(loaded, split, seed)
    image_of = dict(line.split(maxsplit=1) for line in index_file.read_text().splitlines() if line.strip())
    is_train = dict(line.split() for line in split_file.read_text().splitlines() if line.strip())
    wanted = {image_of[i].strip() for i, flag in is_train.items()
              if i in image_of and (flag == "1") == (split == "train")}
    folder = base / "images"
    loaded.indices = [k for k, (path, _) in enumerate(ds.samples)
                      if Path(path).relative_to(folder).as_posix() in wanted]
    return loaded


@dataclass(frozen=True)
class Benchmark:
    """One benchmark of the paper: its domain string, splits, expected files and loader."""

    name: str
    title: str
    domain: str
    splits: tuple[str, ...]
    required: str
    layout: str
    load: Callable[[Path, str, Callable | None, int], Loaded]


#: The 13 benchmarks of the synthetic-captions paper, by the kit's name; domains are the paper's.
BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("pets", "Oxford-IIIT Pets", "pets", ("train", "test"), "oxford-iiit-pet/images",
                  "ROOT/oxford-iiit-pet/images/*.jpg and ROOT/oxford-iiit-pet/annotations/{trainval,test}.txt",
                  _pets),
        Benchmark("flowers102", "Oxford Flowers102", "flowers", ("train", "val", "test"), "flowers-102",
                  "ROOT/flowers-102/jpg/*.jpg, ROOT/flowers-102/imagelabels.mat and ROOT/flowers-102/setid.mat",
                  _flowers),
        Benchmark("dtd", "Describable Textures (DTD)", "textures", ("train", "val", "test"), "dtd/dtd",
                  "ROOT/dtd/dtd/images/<class>/*.jpg and ROOT/dtd/dtd/labels/{train,val,test}1.txt", _dtd),
        Benchmark("gtsrb", "GTSRB", "traffic signs", ("train", "test"), "gtsrb/GTSRB",
                  "ROOT/gtsrb/GTSRB/Training/<class id>/*.ppm (train); ROOT/gtsrb/GTSRB/Final_Test/Images/*.ppm "
                  "and ROOT/gtsrb/GT-final_test.csv (test)", _gtsrb),
        Benchmark("stanford_cars", "Stanford Cars", "cars", ("train", "test"), "stanford_cars/devkit",
                  "ROOT/stanford_cars/devkit/{cars_meta.mat,cars_train_annos.mat}, ROOT/stanford_cars/cars_train/, "
                  "ROOT/stanford_cars/cars_test/ and ROOT/stanford_cars/cars_test_annos_withlabels.mat", _cars),
        Benchmark("fgvc_aircraft", "FGVC-Aircraft", "aircrafts", ("train", "val", "test"),
                  "fgvc-aircraft-2013b/data",
                  "ROOT/fgvc-aircraft-2013b/data/ (images/, variants.txt, images_variant_{train,val,test}.txt)",
                  _aircraft),
        Benchmark("cifar10", "CIFAR-10", "general objects", ("train", "test"), "cifar-10-batches-py",
                  "ROOT/cifar-10-batches-py/ (python version: data_batch_1..5, test_batch, batches.meta)",
                  _cifar("CIFAR10")),
        Benchmark("cifar100", "CIFAR-100", "general objects", ("train", "test"), "cifar-100-python",
                  "ROOT/cifar-100-python/ (python version: train, test, meta)", _cifar("CIFAR100")),
        Benchmark("imagenet", "ImageNet-1k", "general objects", ("train", "test"), "imagenet",
                  "ROOT/imagenet/train/<wnid>/*.JPEG and ROOT/imagenet/val/<wnid>/*.JPEG (1000 WordNet-id "
                  "folders each; val sorted into class folders; val is the kit's test split)", _imagenet),
        Benchmark("eurosat", "EuroSAT (RGB)", "satellite", ("train", "test"), "eurosat/2750",
                  "ROOT/eurosat/2750/<class>/*.jpg (seeded 70/30 split)", _eurosat),
        Benchmark("caltech101", "Caltech101", "general objects", ("train", "test"),
                  "caltech101/101_ObjectCategories",
                  "ROOT/caltech101/101_ObjectCategories/<class>/*.jpg (seeded 70/30 split)", _caltech101),
        Benchmark("food101", "Food-101", "food", ("train", "test"), "food-101/meta",
                  "ROOT/food-101/images/<class>/*.jpg and ROOT/food-101/meta/{train,test}.json", _food101),
        Benchmark("cub200", "CUB-200-2011", "birds", ("train", "test"), "CUB_200_2011/images",
                  "ROOT/CUB_200_2011/images/<NNN.Class_Name>/*.jpg, with ROOT/CUB_200_2011/images.txt and "
                  "train_test_split.txt for the official split (else a seeded 70/30 split)", _cub),
    )
}

_ALIASES = {
    "oxfordpets": "pets", "oxfordiiitpet": "pets", "flowers": "flowers102", "oxfordflowers": "flowers102",
    "textures": "dtd", "cars": "stanford_cars", "stanfordcars": "stanford_cars", "aircraft": "fgvc_aircraft",
    "fgvcaircraft": "fgvc_aircraft", "aircrafts": "fgvc_aircraft", "imagenet1k": "imagenet", "food": "food101",
    "cub": "cub200", "cub2002011": "cub200", "birds": "cub200",
}


def benchmark_name(name: str) -> str | None:
    """The kit's name of a benchmark, accepting spellings like "CIFAR-10" or "CUB"; None if unknown."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    for canonical in BENCHMARKS:
        if key == re.sub(r"[^a-z0-9]", "", canonical):
            return canonical
    return _ALIASES.get(key)


def _not_found(bench: Benchmark, root: Path | None, detail: str) -> DatasetNotFoundError:
    where = f"root={str(root)!r}" if root is not None else "no root"
    return DatasetNotFoundError(
        f"{bench.title} ({bench.name!r}) not found with {where}: {detail}. Downloads are off: fetch the files "
        f"yourself and lay them out as {bench.layout}, then pass root=ROOT."
    )


def load_benchmark(
    name: str, root: str | Path | None, split: str, transform: Callable | None = None, seed: int = 0,
    domain: str | None = None,
) -> LabelledSubset:
    """Load one split of a paper benchmark from ``root`` (never downloads)."""
    bench = BENCHMARKS[name]
    if split not in bench.splits:
        raise InvalidInputError(
            f"{bench.title} has splits {bench.splits}, not {split!r}"
            + ("; hold out validation data with mmft_kit.data.train_val_split" if "val" not in bench.splits else "")
        )
    if root is None:
        raise _not_found(bench, None, "pass root=, the folder that holds the data set")
    root = Path(root).expanduser()
    if not (root / bench.required).exists():
        raise _not_found(bench, root, f"{root / bench.required} does not exist")
    try:
        loaded = bench.load(root, split, transform, seed)
    except MMFTKitError:
        raise
    except (RuntimeError, OSError, ValueError, KeyError) as err:  # files missing or not as torchvision expects
        said = re.sub(r"\s*You can use download=True to download it\.?", "", str(err))  # the kit never downloads
        raise _not_found(bench, root, f"torchvision could not read it ({type(err).__name__}: {said})") from err
    indices = range(len(loaded.base)) if loaded.indices is None else loaded.indices
    targets = [int(loaded.targets[i]) for i in indices]
    return LabelledSubset(loaded.base, indices, targets, loaded.classnames, domain or bench.domain,
                          name=f"{bench.name}/{split}")
