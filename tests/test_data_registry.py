"""The data set registry: world tasks, digits, ImageFolders and the paper's benchmarks (offline)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmft_kit.data import (
    BENCHMARKS, IMAGENET_VARIANTS, SHIFTED_TASKS, WORLD_TASKS, available_splits, get_dataset, list_datasets,
    make_world_task, train_val_split,
)
from mmft_kit.data.tasks import SPLIT_SIZES
from mmft_kit.errors import DatasetNotFoundError, InvalidInputError

# Domain strings of the synthetic-captions paper.
PAPER_DOMAINS = {
    "pets": "pets", "flowers102": "flowers", "dtd": "textures", "gtsrb": "traffic signs", "stanford_cars": "cars",
    "fgvc_aircraft": "aircrafts", "cifar10": "general objects", "cifar100": "general objects",
    "imagenet": "general objects", "eurosat": "satellite", "caltech101": "general objects", "food101": "food",
    "cub200": "birds",
}


@pytest.fixture
def no_network(monkeypatch):
    """Fail loudly on any attempt to open a network connection."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _png(path: Path, colour: tuple[int, int, int], size: int = 12) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size + 3, 3), colour, np.uint8)).save(path)


def _jpg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (10, 10, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


# ------------------------------------------------------------------------------------- built-in


@pytest.mark.parametrize("name", sorted(WORLD_TASKS))
def test_world_tasks_load_with_classnames_domain_and_sizes(name):
    task = WORLD_TASKS[name]
    ds = get_dataset(name, split="val", image_size=24, seed=2)
    assert ds.classnames == list(task.classes) and ds.domain == task.domain
    assert len(ds) == len(ds.targets) == SPLIT_SIZES["val"] * len(task.classes)
    image, label = ds[0]
    assert isinstance(image, Image.Image) and image.size == (24, 24) and image.mode == "RGB"
    assert label == ds.targets[0]
    assert np.array_equal(ds.images, make_world_task(name, "val", image_size=24, seed=2).images)
    assert available_splits(name) == ("train", "val", "test")


def test_digits_load_as_stratified_train_and_test():
    train, test = get_dataset("digits"), get_dataset("digits", split="test", image_size=16)
    assert train.classnames == ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert train.domain == test.domain == "handwritten digits"
    assert len(train) + len(test) == 1797 and abs(len(test) / 1797 - 0.3) < 0.01
    train_counts, test_counts = np.bincount(train.targets), np.bincount(test.targets)
    assert np.allclose(test_counts / (train_counts + test_counts), 0.3, atol=0.02)  # stratified
    image, label = train[0]
    assert image.size == (32, 32) and image.mode == "RGB" and test[0][0].size == (16, 16)
    pixels = np.asarray(image)
    assert np.array_equal(pixels[..., 0], pixels[..., 2])  # grey copied to RGB
    assert (pixels[0, 0] == 255).all() and pixels.mean() > 128 and pixels.min() < 64  # dark ink on white paper
    # no image is in both splits; same seed → same split; another seed → another split
    assert not {a.tobytes() for a in train.images} & {a.tobytes() for a in test.images}
    assert np.array_equal(get_dataset("digits").images, train.images)
    assert not np.array_equal(get_dataset("digits", seed=1).images, train.images)
    assert available_splits("digits") == ("train", "test")


def test_digits_val_split_is_refused_with_the_alternative():
    with pytest.raises(InvalidInputError, match=r"\('train', 'test'\).*train_val_split"):
        get_dataset("digits", split="val")
    train, val = train_val_split(get_dataset("digits"), 0.1, seed=0)
    assert set(val.targets) == set(range(10)) and abs(len(val) - 126) <= 10


def test_transform_is_applied_and_domain_can_be_overridden():
    ds = get_dataset("glyphs", transform=lambda im: torch.zeros(3, 4, 4), domain="sign photos")
    assert ds[0][0].shape == (3, 4, 4) and ds.domain == "sign photos"


def test_unknown_name_lists_the_known_names():
    with pytest.raises(DatasetNotFoundError) as err:
        get_dataset("mnist-ish")
    for name in ("glyphs", "digits", "cifar10", "cub200", "ImageFolder"):
        assert name in str(err.value)
    assert set(list_datasets()) == (set(WORLD_TASKS) | set(SHIFTED_TASKS) | {"digits"} | set(PAPER_DOMAINS)
                                    | set(IMAGENET_VARIANTS))


# ------------------------------------------------------------------------------------- ImageFolder


def test_image_folder_round_trip(tmp_path):
    colours = {"ant": (200, 0, 0), "bee": (0, 200, 0), "cat": (0, 0, 200)}
    for name, colour in colours.items():
        for k in range(3):
            _png(tmp_path / "pics" / name / f"{k}.png", colour)
    ds = get_dataset(str(tmp_path / "pics"))
    assert ds.classnames == ["ant", "bee", "cat"] and ds.domain == "general objects"
    assert ds.targets == [0, 0, 0, 1, 1, 1, 2, 2, 2] and len(ds) == 9
    for index in range(len(ds)):
        image, label = ds[index]
        assert image.mode == "RGB" and image.size == (15, 12)
        assert tuple(np.asarray(image)[0, 0]) == colours[ds.classnames[label]]
    assert available_splits(str(tmp_path / "pics")) == ("train",)
    with pytest.raises(InvalidInputError, match="no train/val/test subfolders"):
        get_dataset(str(tmp_path / "pics"), split="test")
    # a relative name is looked up under root; the domain can be given
    assert get_dataset("pics", root=tmp_path, domain="insects").domain == "insects"


def test_image_folder_with_split_subfolders_keeps_labels_equal(tmp_path):
    for k in range(2):
        _png(tmp_path / "data" / "train" / "ant" / f"{k}.png", (200, 0, 0))
        _png(tmp_path / "data" / "train" / "cat" / f"{k}.png", (0, 0, 200))
    _png(tmp_path / "data" / "test" / "cat" / "0.png", (0, 0, 200))  # test lacks "ant"
    root = str(tmp_path / "data")
    assert available_splits(root) == ("train", "test")
    train, test = get_dataset(root), get_dataset(root, split="test")
    assert train.classnames == test.classnames == ["ant", "cat"]
    assert test.targets == [1] and test[0][1] == 1
    with pytest.raises(InvalidInputError, match=r"\('train', 'test'\)"):
        get_dataset(root, split="val")


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no folder"):
        get_dataset(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="one subfolder per class"):
        get_dataset(str(tmp_path / "empty"))
    (tmp_path / "hollow" / "ant").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="one subfolder per class"):
        get_dataset(str(tmp_path / "hollow"))


def test_corrupt_image_error_names_the_file(tmp_path):
    _png(tmp_path / "pics" / "ant" / "good.png", (1, 2, 3))
    bad = tmp_path / "pics" / "ant" / "broken.png"
    bad.write_bytes(b"this is not a png")
    ds = get_dataset(str(tmp_path / "pics"))
    index = next(i for i, (path, _) in enumerate(ds.dataset.samples) if path.endswith("broken.png"))
    assert ds[1 - index][0].size == (15, 12)  # the good one still loads
    with pytest.raises(InvalidInputError, match="broken.png"):
        ds[index]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=list)
    with pytest.raises(InvalidInputError, match="broken.png"):
        next(iter(loader))


# ------------------------------------------------------------------------------------- benchmarks


def test_every_benchmark_has_the_paper_domain():
    assert {name: bench.domain for name, bench in BENCHMARKS.items()} == PAPER_DOMAINS
    for name in PAPER_DOMAINS:
        assert "train" in available_splits(name) and "test" in available_splits(name)
    assert available_splits("CIFAR-10") == ("train", "test") and available_splits("CUB") == ("train", "test")


@pytest.mark.parametrize("name", sorted(PAPER_DOMAINS))
def test_benchmark_without_files_fails_cleanly_and_offline(name, tmp_path, no_network):
    start = time.perf_counter()
    with pytest.raises(DatasetNotFoundError, match="Downloads are off.*root="):
        get_dataset(name)
    with pytest.raises(DatasetNotFoundError) as err:
        get_dataset(name, root=tmp_path)
    message = str(err.value)
    assert str(tmp_path / BENCHMARKS[name].required) in message and "Downloads are off" in message
    # the top folder exists but holds nothing usable: torchvision's complaint becomes ours
    (tmp_path / BENCHMARKS[name].required).mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="lay them out as"):
        get_dataset(name, root=tmp_path)
    assert time.perf_counter() - start < 20
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == []


def test_benchmark_split_errors():
    with pytest.raises(InvalidInputError, match="train_val_split"):
        get_dataset("cifar10", root="/nonexistent", split="val")
    with pytest.raises(InvalidInputError, match="splits"):
        get_dataset("dtd", root="/nonexistent", split="holdout")


def test_eurosat_from_files_gets_seeded_split_and_readable_names(tmp_path, no_network):
    for c, name in enumerate(("AnnualCrop", "Forest", "SeaLake")):
        for k in range(10):
            _jpg(tmp_path / "eurosat" / "2750" / name / f"{name}_{k}.jpg", seed=10 * c + k)
    train = get_dataset("EuroSAT", root=tmp_path)
    test = get_dataset("eurosat", root=tmp_path, split="test")
    assert train.classnames == ["Annual Crop", "Forest", "Sea Lake"] and train.domain == "satellite"
    assert np.bincount(train.targets).tolist() == [7, 7, 7] and np.bincount(test.targets).tolist() == [3, 3, 3]
    assert not set(train.indices) & set(test.indices)
    assert get_dataset("eurosat", root=tmp_path).indices == train.indices
    assert get_dataset("eurosat", root=tmp_path, seed=1).indices != train.indices
    image, label = test[0]
    assert image.size == (10, 10) and label == test.targets[0]


def test_cub_from_files_uses_the_official_split(tmp_path, no_network):
    base = tmp_path / "CUB_200_2011"
    lines, flags = [], []
    for c, folder in enumerate(("001.Black_footed_Albatross", "002.Laysan_Albatross")):
        for k in range(4):
            rel = f"{folder}/{folder.split('.')[1]}_{k}.jpg"
            _jpg(base / "images" / rel, seed=4 * c + k)
            lines.append(f"{len(lines) + 1} {rel}")
            flags.append(f"{len(flags) + 1} {int(k < 3)}")
    train = get_dataset("cub200", root=tmp_path)
    assert train.classnames == ["Black footed Albatross", "Laysan Albatross"] and train.domain == "birds"
    assert len(train) == 6  # seeded fallback 70/30 without the split files
    (base / "images.txt").write_text("\n".join(lines) + "\n")
    (base / "train_test_split.txt").write_text("\n".join(flags) + "\n")
    train, test = get_dataset("CUB", root=tmp_path), get_dataset("cub200", root=tmp_path, split="test")
    assert train.targets == [0, 0, 0, 1, 1, 1] and test.targets == [0, 1]
    assert all(Path(train.dataset.samples[i][0]).stem[-1] in "012" for i in train.indices)


def test_caltech101_from_files_gives_rgb_images(tmp_path, no_network):
    folder = tmp_path / "caltech101" / "101_ObjectCategories"
    (folder / "BACKGROUND_Google").mkdir(parents=True)
    for c, name in enumerate(("Faces_easy", "car_side")):
        for k in range(1, 5):
            (folder / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((6, 6), 40 * c + k, np.uint8)).save(folder / name / f"image_{k:04d}.jpg")
    train = get_dataset("caltech101", root=tmp_path)
    assert train.classnames == ["Faces easy", "car side"] and train.domain == "general objects"
    assert np.bincount(train.targets).tolist() == [3, 3]
    assert all(train[k][0].mode == "RGB" for k in range(len(train)))


def test_dtd_from_files_has_a_val_split(tmp_path, no_network):
    data = tmp_path / "dtd" / "dtd"
    for split in ("train", "val", "test"):
        entries = []
        for cls in ("banded", "dotted"):
            name = f"{cls}_{split}.jpg"
            _jpg(data / "images" / cls / name, seed=len(entries))
            entries.append(f"{cls}/{name}")
        (data / "labels").mkdir(parents=True, exist_ok=True)
        (data / "labels" / f"{split}1.txt").write_text("\n".join(entries) + "\n")
    val = get_dataset("dtd", root=tmp_path, split="val")
    assert val.classnames == ["banded", "dotted"] and val.targets == [0, 1] and val.domain == "textures"
    assert val[1][0].size == (10, 10)


def test_shipped_class_names_load():
    from mmft_kit.data.paper_datasets import shipped_classnames

    gtsrb, imagenet = shipped_classnames("gtsrb"), shipped_classnames("imagenet")
    assert len(gtsrb) == len(set(gtsrb)) == 43 and gtsrb[14] == "stop"
    assert len(imagenet) == 1000 and imagenet[0] == "tench" and imagenet[999] == "toilet paper"
