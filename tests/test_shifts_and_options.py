"""Shifted world tasks, ImageNet shift sets on tiny fake folders, split files, and the authors' baseline options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mmft_kit.data import SHIFTED_TASKS, WORLD_TASKS, available_splits, few_shot, get_dataset, shifted_variants
from mmft_kit.data.few_shot import read_split, split_indices, split_items, write_split
from mmft_kit.data.imagenet_variants import IMAGENET_A_CLASSES, IMAGENET_R_CLASSES
from mmft_kit.errors import DatasetNotFoundError, InvalidInputError
from mmft_kit.inference import ENSEMBLE_TEMPLATES
from mmft_kit.train import TrainConfig, load_run_data
from mmft_kit.train.evalsets import class_subset, masked_logits
from mmft_kit.train.run import training_texts


def test_every_world_task_family_has_shifted_variants_with_its_class_names():
    for base in ("glyphs", "critters", "tiles", "badges"):
        variants = shifted_variants(base)
        assert variants and all(name in SHIFTED_TASKS for name in variants)
        for name in variants:
            ds = get_dataset(name, split="test")
            assert ds.classnames == list(WORLD_TASKS[base].classes) and len(ds) == 8 * 40
            assert available_splits(name) == ("train", "val", "test")


def test_shifts_change_what_they_say_and_keep_the_class_rules():
    styles = {a["style"] for a in get_dataset("badges-outline", split="test").attributes}
    assert styles == {"outline"}
    plain, moved = get_dataset("badges", split="test"), get_dataset("badges-background", split="test")
    corners = lambda ds: ds.images[:, 0, 0].astype(int)  # noqa: E731 - the top-left pixel is background
    palette = {(15, 15, 15), (240, 240, 240), (128, 128, 128), (20, 110, 110)}
    assert {tuple(c) for c in corners(plain)} <= palette
    assert np.mean([tuple(c) not in palette for c in corners(moved)]) > 0.9
    task = WORLD_TASKS["badges"]
    for attrs, label in zip(moved.attributes, moved.targets):
        rule = list(task.classes.values())[label]
        assert all(attrs[k] == v for k, v in rule.items())


def _images(folder, n=1):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (4, 4), (i * 40, 0, 0)).save(folder / f"{i}.jpeg")


def _wnids(count):
    return [f"n{10000000 + 7 * i:08d}" for i in range(count)]


def test_imagenet_a_and_r_map_their_200_folders_to_imagenet_labels(tmp_path):
    for sub, classes, name in (("imagenet-a", IMAGENET_A_CLASSES, "imagenet_a"),
                               ("imagenet-r", IMAGENET_R_CLASSES, "imagenet_r")):
        for wnid in _wnids(200):
            _images(tmp_path / sub / wnid)
        ds = get_dataset(name.replace("_", "-").upper(), root=tmp_path, split="test")  # "IMAGENET-A" spelling
        assert len(ds.classnames) == 1000 and len(ds) == 200
        assert ds.targets == list(classes) and class_subset(ds) == list(classes)
        logits = masked_logits(torch.zeros(1, 1000), class_subset(ds))
        assert torch.isfinite(logits).sum() == 200


def test_imagenet_v2_and_sketch_use_imagenet_labels(tmp_path):
    for index in (0, 2, 10, 999):
        _images(tmp_path / "imagenetv2-matched-frequency-format-val" / str(index))
    v2 = get_dataset("imagenet_v2", root=tmp_path, split="test")
    assert sorted(v2.targets) == [0, 2, 10, 999] and class_subset(v2) is None
    for wnid in _wnids(1000):
        _images(tmp_path / "sketch" / wnid)
    sketch = get_dataset("imagenet_sketch", root=tmp_path, split="test")
    assert sketch.targets == list(range(1000))


def test_imagenet_variants_say_what_is_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="imagenet-r"):
        get_dataset("imagenet_r", root=tmp_path, split="test")
    for wnid in _wnids(3):
        _images(tmp_path / "imagenet-a" / wnid)
    with pytest.raises(InvalidInputError, match="needs 200 WordNet-id folders"):
        get_dataset("imagenet_a", root=tmp_path, split="test")
    with pytest.raises(InvalidInputError, match="only the split 'test'"):
        get_dataset("imagenet_a", root=tmp_path, split="train")


def test_a_written_split_reads_back_to_the_same_indices(tmp_path):
    train = get_dataset("glyphs", split="train")
    draw = few_shot(train, 4, seed=7)
    items = split_items(train, draw.indices, draw.targets, train.classnames)
    write_split(tmp_path / "split.json", {"train": items, "val": [], "test": []}, dataset="glyphs", shots=4, seed=7)
    back = read_split(tmp_path / "split.json")
    assert split_indices(back, "train") == draw.indices == few_shot(train, 4, seed=7).indices
    assert [c for _, _, c in back["train"]] == [train.classnames[t] for t in draw.targets]


def test_split_items_give_relative_paths_for_image_folders(tmp_path):
    for cls in ("cat", "dog"):
        _images(tmp_path / "pets" / cls, n=2)
    ds = get_dataset(str(tmp_path / "pets"))
    items = split_items(ds, [0, 3], [ds.targets[0], ds.targets[3]], ds.classnames, root=tmp_path)
    assert items == [["pets/cat/0.jpeg", 0, "cat"], ["pets/dog/1.jpeg", 1, "dog"]]
    with pytest.raises(InvalidInputError, match="paths, not indices"):
        split_indices({"train": items}, "train")


def test_authors_options_change_the_training_texts():
    data = load_run_data(TrainConfig(method="flyp", dataset="glyphs", shots=1))
    single, _ = training_texts(TrainConfig(method="flyp", dataset="glyphs", shots=1), data)
    assert single[0] == [f"a photo of a {data.classnames[data.few_shot.targets[0]]}."]
    bare, _ = training_texts(TrainConfig(method="flyp", dataset="glyphs", shots=1, prompt_full_stop=False), data)
    assert bare[0] == [single[0][0][:-1]]
    ens, _ = training_texts(TrainConfig(method="flyp_ens", dataset="glyphs", shots=1, flyp_templates="random80"), data)
    assert len(ens[0]) == len(ENSEMBLE_TEMPLATES) == 80
    with pytest.raises(InvalidInputError, match="flyp_templates"):
        TrainConfig(flyp_templates="all")


def test_logit_scale_is_clamped_only_when_asked():
    from mmft_kit.train.loop import _train_epoch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.logit_scale = torch.nn.Parameter(torch.tensor(10.0))  # above log(100)

    loader = [(torch.zeros(1, 1), ["t"], torch.zeros(1, dtype=torch.long))]
    for clamp, expected in ((True, float(np.log(100))), (False, 10.0)):
        model = Tiny()
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
        scaler = torch.amp.GradScaler("cpu", enabled=False)
        _train_epoch(model, loader, lambda m, *_: m.logit_scale * 0, opt, sched, scaler, torch.device("cpu"),
                     False, False, clamp)
        assert float(model.logit_scale.detach()) == pytest.approx(expected, rel=1e-5)
