"""Shifted world tasks, ImageNet shift sets on tiny fake folders, split files, and the authors' baseline options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import PILToTensor

from mmft_kit.data import SHIFTED_TASKS, WORLD_TASKS, available_splits, few_shot, get_dataset, shifted_variants
from mmft_kit.data.few_shot import read_split, split_indices, split_items, write_split
from mmft_kit.data.imagenet_folders import imagenet_wnids
from mmft_kit.data.imagenet_variants import IMAGENET_A_CLASSES as A_CLASSES
from mmft_kit.data.imagenet_variants import IMAGENET_R_CLASSES as R_CLASSES
from mmft_kit.errors import DatasetNotFoundError, InvalidInputError
from mmft_kit.inference import ENSEMBLE_TEMPLATES, accuracy
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


WNIDS = imagenet_wnids()
SETS = {"imagenet_v2": ("imagenetv2-matched-frequency-format-val", [2, 10]), "imagenet_a": ("imagenet-a", A_CLASSES),
        "imagenet_r": ("imagenet-r", R_CLASSES), "imagenet_sketch": ("sketch", list(range(1000))),
        "imagenet": ("imagenet/val", list(range(1000)))}  # ImageNet-1k's val is the kit's test split


def _painted(folder, label):
    """One image whose pixels spell its ImageNet index (read back by :class:`_Oracle`)."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (2, 2), (label // 256, label % 256, 0)).save(folder / "0.png")


class _Oracle(torch.nn.Module):
    """A "CLIP" that always predicts the true ImageNet class: its image embedding is the one-hot of the index."""

    def __init__(self):
        super().__init__()
        self.logit_scale = torch.nn.Parameter(torch.zeros(()))

    def encode_image(self, pixels):
        return torch.nn.functional.one_hot(pixels[:, 0, 0, 0].long() * 256 + pixels[:, 1, 0, 0].long(), 1000).float()


def _lay_out(root, name, classes):
    folder, _ = SETS[name]
    for k in classes:
        _painted(root / folder / (str(k) if name == "imagenet_v2" else WNIDS[k]), k)


def test_the_200_class_tables_are_the_published_ones():
    import pkgutil

    for name, table in (("imagenet_a", A_CLASSES), ("imagenet_r", R_CLASSES)):  # timm ships the official lists
        official = pkgutil.get_data("timm.data", f"_info/{name}_synsets.txt").decode().split()
        assert [WNIDS[k] for k in table] == official
    assert (A_CLASSES[:3], R_CLASSES[:3], WNIDS[0]) == ((6, 11, 13), (1, 2, 4), "n01440764")  # hendrycks' eval.py


@pytest.mark.parametrize("name", list(SETS))
def test_every_item_of_an_imagenet_set_carries_its_imagenet_index(tmp_path, name):
    _lay_out(tmp_path, name, SETS[name][1])
    ds = get_dataset(name, root=tmp_path, split="test", transform=PILToTensor())
    items = [ds[i][1] for i in range(len(ds))]
    assert items == ds.targets == sorted(SETS[name][1], key=lambda k: str(k) if name == "imagenet_v2" else k)
    assert len(ds.classnames) == 1000
    assert accuracy(_Oracle(), torch.eye(1000), ds) == 1.0
    loader_labels = torch.cat([labels for _, labels in torch.utils.data.DataLoader(ds, batch_size=64)])
    assert loader_labels.tolist() == ds.targets


def test_a_and_r_restrict_evaluation_to_their_200_classes(tmp_path):
    for name, classes in (("imagenet_a", A_CLASSES), ("imagenet_r", R_CLASSES)):
        _lay_out(tmp_path, name, classes)
        ds = get_dataset(name.replace("_", "-").upper(), root=tmp_path, split="test")  # "IMAGENET-A" spelling
        assert class_subset(ds) == list(classes)
        assert torch.isfinite(masked_logits(torch.zeros(1, 1000), class_subset(ds))).sum() == 200
    _lay_out(tmp_path, "imagenet_v2", [0, 999])
    assert class_subset(get_dataset("imagenet_v2", root=tmp_path, split="test")) is None


def test_a_shift_set_with_other_classes_is_refused_by_name(tmp_path):
    _lay_out(tmp_path, "imagenet_a", A_CLASSES[1:])
    _painted(tmp_path / "imagenet-a" / WNIDS[1], 1)  # an ImageNet-R class, not an ImageNet-A one
    with pytest.raises(InvalidInputError, match=f"not ImageNet-A classes: {WNIDS[1]}.*no folder for 1 .*{WNIDS[6]}"):
        get_dataset("imagenet_a", root=tmp_path, split="test")
    _painted(tmp_path / "imagenetv2-matched-frequency-format-val" / "n01440764", 0)
    with pytest.raises(InvalidInputError, match="not ImageNet-V2 classes: n01440764"):
        get_dataset("imagenet_v2", root=tmp_path, split="test")


def test_imagenet_variants_say_what_is_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="imagenet-r"):
        get_dataset("imagenet_r", root=tmp_path, split="test")
    _lay_out(tmp_path, "imagenet_a", A_CLASSES[:3])
    with pytest.raises(InvalidInputError, match="no folder for 197 of its 200 classes"):
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
