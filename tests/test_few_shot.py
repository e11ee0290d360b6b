"""The few-shot sampler and the stratified hold-out."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from torch.utils.data import Dataset

from mmft_kit.data import ArrayImageDataset, few_shot, get_dataset, split_hash, train_val_split
from mmft_kit.errors import InvalidInputError


def _toy(counts=(10, 7, 3), seed=0) -> ArrayImageDataset:
    """A data set whose class ``c`` has ``counts[c]`` images, shuffled; pixel (0, 0, 0) holds the index."""
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
    images = np.zeros((len(labels), 4, 4, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels))
    return ArrayImageDataset(images, labels, ["ant", "bee", "cat"][: len(counts)], "bugs")


def test_exactly_n_per_class_sorted_and_labelled():
    ds = _toy()
    subset = few_shot(ds, 3, seed=0)
    assert len(subset) == 9 and subset.indices == sorted(subset.indices) and len(set(subset.indices)) == 9
    assert np.bincount(subset.targets).tolist() == [3, 3, 3]
    assert subset.targets == [ds.targets[i] for i in subset.indices]
    assert subset.classnames == ["ant", "bee", "cat"] and subset.domain == "bugs"
    image, label = subset[4]
    assert np.asarray(image)[0, 0, 0] == subset.indices[4] and label == subset.targets[4]


def test_same_seed_same_draw_different_seed_different_draw():
    ds = _toy()
    assert few_shot(ds, 2, seed=7).indices == few_shot(ds, 2, seed=7).indices
    draws = {tuple(few_shot(ds, 2, seed=s).indices) for s in range(6)}
    assert len(draws) >= 5


def test_draw_is_independent_of_python_hash_seed():
    code = (
        "from mmft_kit.data import ArrayImageDataset, few_shot; import numpy as np\n"
        "labels = np.arange(60) % 6\n"
        "ds = ArrayImageDataset(np.zeros((60, 2, 2, 3), np.uint8), labels, list('abcdef'), 'd')\n"
        "print(few_shot(ds, 4, seed=11).split_hash)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    labels = np.arange(60) % 6
    here = few_shot(ArrayImageDataset(np.zeros((60, 2, 2, 3), np.uint8), labels, list("abcdef"), "d"), 4, seed=11)
    assert out.stdout.strip() == here.split_hash


def test_fewer_shots_are_contained_in_more_shots():
    ds = _toy()
    one, two, three = (set(few_shot(ds, n, seed=3).indices) for n in (1, 2, 3))
    assert one < two < three


def test_a_class_draw_does_not_depend_on_other_classes():
    def dataset(n_bees: int) -> ArrayImageDataset:
        labels = [0] * 10 + [1] * n_bees
        return ArrayImageDataset(np.zeros((len(labels), 2, 2, 3), np.uint8), labels, ["ant", "bee"], "bugs")

    def ant_picks(ds: ArrayImageDataset) -> list[int]:
        return [i for i in few_shot(ds, 3, seed=1).indices if ds.targets[i] == 0]

    assert ant_picks(dataset(4)) == ant_picks(dataset(9))


def test_too_many_shots_names_the_class_and_counts():
    with pytest.raises(InvalidInputError, match=r"asked for 5 shots per class but 'cat' has 3 image"):
        few_shot(_toy(), 5, seed=0)
    with pytest.raises(InvalidInputError, match=r"'bee' has 7.*'cat' has 3.*shots ≤ 3"):
        few_shot(_toy(), 8, seed=0)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InvalidInputError, match="whole number"):
            few_shot(_toy(), bad, seed=0)


def test_bad_data_sets_are_refused():
    class NoTargets(Dataset):
        def __len__(self):
            return 1

    with pytest.raises(InvalidInputError, match=r"\.targets"):
        few_shot(NoTargets(), 1, seed=0)
    ds = _toy()
    ds.targets = [5] + ds.targets[1:]
    with pytest.raises(InvalidInputError, match=r"labels must lie in \[0, 2\]"):
        few_shot(ds, 1, seed=0)


def test_split_hash_is_stable():
    assert split_hash([1, 2, 3]) == hashlib.sha256(b"1,2,3").hexdigest()[:16] == "8a6ae15122001229"
    assert split_hash(np.array([1, 2, 3])) == split_hash([1, 2, 3]) != split_hash([1, 2, 4])
    subset = few_shot(_toy(), 2, seed=0)
    assert subset.split_hash == split_hash(subset.indices) == few_shot(_toy(), 2, seed=0).split_hash
    assert subset.split_hash != few_shot(_toy(), 2, seed=1).split_hash


def test_train_val_split_is_stratified_disjoint_and_reproducible():
    ds = get_dataset("digits")
    train, val = train_val_split(ds, val_fraction=0.1, seed=0)
    assert sorted(train.indices + val.indices) == list(range(len(ds)))
    counts, val_counts = np.bincount(ds.targets), np.bincount(val.targets)
    assert np.all(np.abs(val_counts - np.round(0.1 * counts)) <= 1)
    assert train_val_split(ds, 0.1, seed=0)[1].indices == val.indices
    assert train_val_split(ds, 0.1, seed=1)[1].indices != val.indices
    assert train.classnames == ds.classnames and val.domain == ds.domain
    with pytest.raises(InvalidInputError, match="between 0 and 1"):
        train_val_split(ds, 1.0)


def test_few_shot_of_a_held_out_train_part():
    ds = _toy()
    train, val = train_val_split(ds, 0.2, seed=0)
    subset = few_shot(train, 2, seed=0)
    assert np.bincount(subset.targets).tolist() == [2, 2, 2]
    held = set(val.indices)
    for k in range(len(subset)):
        image, label = subset[k]
        original = int(np.asarray(image)[0, 0, 0])
        assert original not in held and ds.targets[original] == label
