"""The data of one run: few-shot train images, full-size validation and test sets, their texts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset, Subset

from ..data.items import dataset_image, dataset_info, dataset_label
from ..data import LabelledSubset, available_splits, few_shot, get_dataset, train_val_split
from ..data.few_shot import split_items
from ..data.registry import image_folder_path
from ..errors import InvalidInputError
from ..text import CLASS_TEMPLATE
from .config import TrainConfig

#: ``RunData.val_source`` of a data set with its own validation split.
VAL_SPLIT = "the data set's val split"
#: ``RunData.test_source`` of a data set with its own test split.
TEST_SPLIT = "the data set's test split"
#: A flat image folder (no ``test/`` subfolder) keeps this share of every class as its test set, drawn with
#: :data:`FOLDER_TEST_SEED` whatever the run's seed, so every run of the folder tests on the same images
#: (listed in the run's ``split.json``).
FOLDER_TEST_FRACTION = 0.2
FOLDER_TEST_SEED = 0
#: Keep transformed images in memory up to this many bytes per data set.
CACHE_BYTES = 1 << 30


class Preprocessed(Dataset):
    """``(transform(image), label)`` for the images of a kit data set, with its ``classnames``, ``domain``, ``targets``.

    With ``cache`` the transform must be deterministic (a CLIP's eval preprocess): transformed images
    are kept in memory after their first use while the whole set fits in :data:`CACHE_BYTES`. Pass
    ``cache=False`` for a random (training augmentation) transform.
    """

    def __init__(self, dataset: Dataset, transform: Callable, cache: bool = True) -> None:
        self.dataset = dataset
        self.transform = transform
        self.classnames, self.domain = dataset_info(dataset)
        self.targets = [dataset_label(dataset, i) for i in range(len(dataset))]
        self._cache: dict[int, torch.Tensor] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image = self._cache.get(index) if self._cache is not None else None
        if image is None:
            image = self.transform(dataset_image(self.dataset, index))
            if self._cache is not None:
                if image.element_size() * image.nelement() * len(self) > CACHE_BYTES:
                    self._cache = None
                else:
                    self._cache[index] = image
        return image, self.targets[index]


class TokenizedTexts(Dataset):
    """``(image, token ids, label)`` from a data set of ``(image, text, label)`` whose texts are known up front.

    Every text is tokenised once, here, in one batched call, instead of each batch's texts at
    every step; ``set_epoch`` is passed on (captions drawn per epoch).

    Args:
        data: yields ``(image, text, label)``; every text it yields must be among ``texts``.
        texts: all the texts ``data`` can yield (e.g. ``CaptionedDataset.all_texts()``).
        tokenizer: an open_clip tokenizer (list of texts → ``[N, context]`` token ids).
    """

    def __init__(self, data: Dataset, texts: Sequence[str], tokenizer: Callable[[list[str]], torch.Tensor]) -> None:
        unique = list(dict.fromkeys(texts))
        if not unique:
            raise InvalidInputError("no texts to tokenise: give every text the data set can yield")
        self.data = data
        self.tokens = tokenizer(unique)
        self.row = {text: row for row, text in enumerate(unique)}

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.data, "set_epoch"):
            self.data.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        image, text, label = self.data[index]
        row = self.row.get(text)
        if row is None:
            raise InvalidInputError(f"text {text[:60]!r} was not among the texts tokenised up front: give them all")
        return image, self.tokens[row], label


@dataclass
class RunData:
    """The untransformed data sets of a run and where they came from.

    ``pool`` is the train data the few-shot images are drawn from (train minus the validation
    hold-out where there is one); ``train_indices`` are the few-shot images' indices in the
    data set's train split.
    """

    few_shot: LabelledSubset
    pool: Dataset
    val: Dataset
    test: Dataset
    classnames: list[str]
    domain: str
    val_source: str
    train_indices: list[int]
    test_source: str = TEST_SPLIT
    train_split: Dataset | None = None


def indices_in(subset: Subset, ancestor: Dataset) -> list[int]:
    """The indices of ``subset``'s items in ``ancestor``, a data set it is (a subset of a subset ...) of."""
    indices, dataset = list(subset.indices), subset.dataset
    while dataset is not ancestor:
        if not isinstance(dataset, Subset):
            raise InvalidInputError("the subset is not drawn from the given data set")
        indices, dataset = [dataset.indices[i] for i in indices], dataset.dataset
    return indices


@lru_cache(maxsize=16)
def load_split(name: str, root: str | None, split: str, domain: str | None = None) -> Dataset:
    """One untransformed split of a data set (its caption domain replaced by ``domain`` when given), loaded once
    per process (runs share it, nobody changes it)."""
    return get_dataset(name, root=root, split=split, domain=domain)


@lru_cache(maxsize=16)
def preprocessed_split(name: str, root: str | None, split: str, transform: Callable) -> Preprocessed:
    """:func:`load_split` behind :class:`Preprocessed`, kept for the process (its transformed images too)."""
    return Preprocessed(load_split(name, root, split), transform)


def evaluation_sets(config: TrainConfig, data: RunData, transform: Callable) -> tuple[Preprocessed, Preprocessed]:
    """The run's validation and test sets with ``transform`` applied."""
    test = preprocessed_split(config.dataset, config.root, "test", transform) if data.test_source == TEST_SPLIT \
        else Preprocessed(data.test, transform)
    if data.val_source == VAL_SPLIT:
        return preprocessed_split(config.dataset, config.root, "val", transform), test
    return Preprocessed(data.val, transform), test


def _train_and_test(config: TrainConfig, splits: tuple[str, ...]) -> tuple[Dataset, Dataset, Dataset, str]:
    """The train split, the part of it runs draw from, the test set and where the test set came from: the data
    set's test split, or for an image folder without one a fixed hold-out (:data:`FOLDER_TEST_FRACTION`)."""
    train = load_split(config.dataset, config.root, "train", config.domain)
    if "test" in splits:
        return train, train, load_split(config.dataset, config.root, "test"), TEST_SPLIT
    if image_folder_path(config.dataset, config.root) is None:
        raise InvalidInputError(f"{config.dataset!r} has splits {splits} but no test split: give a data set with "
                                "train and test (an image folder, flat or with train/ and test/ subfolders)")
    rest, test = train_val_split(train, FOLDER_TEST_FRACTION, seed=FOLDER_TEST_SEED)
    return train, rest, test, f"{FOLDER_TEST_FRACTION:.0%} of the folder held out per class (seed {FOLDER_TEST_SEED})"


def check_trainable(train: Dataset, name: str, splits: tuple[str, ...]) -> None:
    """Raise InvalidInputError unless the image folder ``name`` (its train split ``train``, its ``splits``) can
    make a run: two classes or more, and in each class one image to train on, plus one for validation when it
    has no ``val/`` and one to test when it has no ``test/``."""
    classnames, _ = dataset_info(train)
    if len(classnames) < 2:
        raise InvalidInputError(
            f"{name} has {len(classnames)} class ({', '.join(classnames)}): a classifier needs two classes or more. "
            "Put each class's images in a subfolder of its own: FOLDER/<class name>/<image>")
    uses = (["one to train on"] + ["one for validation"] * ("val" not in splits)
            + ["one to test"] * ("test" not in splits))
    counts = Counter(dataset_label(train, i) for i in range(len(train)))
    short = {classnames[c]: counts.get(c, 0) for c in range(len(classnames)) if counts.get(c, 0) < len(uses)}
    if short:
        raise InvalidInputError(
            f"{name}: classes {short} have fewer than {len(uses)} images ({', '.join(uses)}); add images to them "
            "or leave them out")


def load_run_data(config: TrainConfig) -> RunData:
    """Train / val / test of ``config.dataset`` (no transform), the val hold-out and the few-shot draw."""
    splits = available_splits(config.dataset, config.root)
    if image_folder_path(config.dataset, config.root) is not None:  # the user's own images
        check_trainable(load_split(config.dataset, config.root, "train", config.domain), config.dataset, splits)
    train, pool, test, test_source = _train_and_test(config, splits)
    if "val" in splits:
        val, source = load_split(config.dataset, config.root, "val"), VAL_SPLIT
    else:
        pool, val = train_val_split(pool, config.val_fraction, seed=config.seed)
        source = f"{config.val_fraction:.0%} of train held out per class (seed {config.seed})"
    if config.shots is None:
        targets = [dataset_label(pool, i) for i in range(len(pool))]
        chosen = LabelledSubset(pool, range(len(pool)), targets, *dataset_info(pool))
    else:
        chosen = few_shot(pool, config.shots, config.seed)
    classnames, domain = dataset_info(train)
    train_indices = indices_in(chosen, train)
    return RunData(chosen, pool, val, test, classnames, domain, source, train_indices, test_source, train)


def run_split(data: RunData, root: str | None = None) -> dict[str, list[list]]:
    """The run's images as CoOp-style split lists (``mmft_kit.data.few_shot.split_items``): train holds the
    few-shot draw and val the validation images, both as indices into the data set's train split (or
    val split, where it has one), test the whole test split."""
    train = load_split_of(data)
    val_indices = list(range(len(data.val))) if data.val_source == VAL_SPLIT else indices_in(data.val, train)
    val_base = data.val if data.val_source == VAL_SPLIT else train
    test_indices = range(len(data.test)) if data.test_source == TEST_SPLIT else indices_in(data.test, train)
    test_base = data.test if data.test_source == TEST_SPLIT else train
    return {
        "train": split_items(train, data.train_indices, data.few_shot.targets, data.classnames, root),
        "val": split_items(val_base, val_indices, [dataset_label(data.val, i) for i in range(len(data.val))],
                           data.classnames, root),
        "test": split_items(test_base, test_indices,
                            [dataset_label(data.test, i) for i in range(len(data.test))], data.classnames, root),
    }


def load_split_of(data: RunData) -> Dataset:
    """The train split the run's few-shot draw indexes (the pool, or the pool's base under a hold-out)."""
    if data.train_split is not None:
        return data.train_split
    return data.pool if data.val_source == VAL_SPLIT else data.pool.dataset


def prompts_per_index(dataset: Dataset, templates: Sequence = (CLASS_TEMPLATE,)) -> list[list[str]]:
    """Every image's FLYP training texts: its class in each of ``templates`` (one is drawn per visit).

    The default is ``[["a photo of a {class}."]]``, FLYP's single prompt; CLIP's 80 templates give the
    paper's FLYP-ens training.
    """
    from ..inference import fill_template

    classnames, _ = dataset_info(dataset)
    return [[fill_template(t, classnames[dataset_label(dataset, i)]) for t in templates] for i in range(len(dataset))]


def texts_by_class(texts_per_index: Sequence[Sequence[str]], labels: Sequence[int], num_classes: int) -> list[list[str]]:
    """Group per-image texts by class (the input of a caption-prototype head)."""
    grouped: list[list[str]] = [[] for _ in range(num_classes)]
    for texts, label in zip(texts_per_index, labels):
        grouped[int(label)].extend(texts)
    return grouped
