"""A user's own images from the command line: caption → export → train → predict on a flat folder (split
reproducibly, the split written beside the run), ``--domain``, stores under ``runs/captions``, folders that cannot
make a run refused, and the warning when the embedded captioner meets images that are not from its world."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmft_kit.__main__ import main
from mmft_kit.captions import CaptionStore
from mmft_kit.captions.world_check import WorldCheck
from mmft_kit.errors import InvalidInputError
from mmft_kit.train import TrainConfig, load_run_data
from mmft_kit.train.captions import OWN_DATA_STORES, default_store

COLOURS = {"red_things": (200, 40, 40), "green_things": (40, 200, 40), "blue_things": (40, 40, 200)}


def _photos(folder: Path, classes: dict[str, tuple[int, int, int]], count: int, seed: int = 0) -> Path:
    """``count`` noisy 80x64 photos per class, one subfolder each."""
    rng = np.random.default_rng(seed)
    for name, colour in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = np.clip(np.array(colour) + rng.normal(0, 30, (64, 80, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"img{i:02d}.jpg")
    return folder


def test_a_flat_folder_goes_caption_export_train_predict(tmp_path, tiny_clip_dir, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    flat = _photos(tmp_path / "my photos", COLOURS, 10)
    clip = f"local-dir:{tiny_clip_dir}"
    assert main(["caption", "--dataset", str(flat), "--captioner", "label", "--domain", "colour swatches",
                 "--quiet"]) == 0
    store = CaptionStore(tmp_path / OWN_DATA_STORES / "my_photos--label.jsonl")  # readable, named after the folder
    assert len(store) == 30 * 3 and all("other colour swatches photos" in r["prompt"] for r in store.records())
    assert main(["caption", "export", "--store", str(store.path), "--dataset", str(flat), "--to", "export",
                 "--formats", "csv"]) == 0
    assert len((tmp_path / "export" / "my_photos--label.csv").read_text().splitlines()) == 1 + 30 * 3

    run = tmp_path / "runs" / "mine"
    assert main(["train", "--dataset", str(flat), "--domain", "colour swatches", "--clip", clip, "--captioner",
                 "label", "--shots", "2", "--epochs", "1", "--batch-size", "6", "--save-classifier", "--no-progress",
                 "--output-dir", str(run)]) == 0
    split = json.loads((run / "split.json").read_text())
    test = [item for item, _, _ in split["test"]]
    assert len(test) == 3 * 2 and all((flat / item).is_file() for item in test)  # 20 % of each class, as paths
    assert not set(test) & {item for item, _, _ in split["train"] + split["val"]}
    other_seed = load_run_data(TrainConfig(dataset=str(flat), seed=7, shots=2))  # the same test set for every seed
    assert sorted(other_seed.test.indices) == sorted(load_run_data(TrainConfig(dataset=str(flat), shots=2)).test.indices)

    capsys.readouterr()
    assert main(["predict", "--model", str(run), "--images", str(flat / "red_things"), "--quiet"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 10 and {row["prediction"] for row in rows} <= set(COLOURS)


@pytest.mark.parametrize("layout, message", [
    ("one class", r"1 class \(cats\): a classifier needs two classes or more"),
    ("too small", r"classes \{'blue_things': 2\} have fewer than 3 images \(one to train on, one for validation, "
                  r"one to test\)"),
])
def test_folders_that_cannot_make_a_run_are_refused(tmp_path, layout, message, capsys):
    if layout == "one class":
        folder = _photos(tmp_path / "cats", {"cats": (90, 90, 90)}, 6)
    else:
        folder = _photos(tmp_path / "few", {k: v for k, v in COLOURS.items() if k != "blue_things"}, 6)
        _photos(folder, {"blue_things": COLOURS["blue_things"]}, 2)
    with pytest.raises(InvalidInputError, match=message):
        load_run_data(TrainConfig(dataset=str(folder), shots=1))
    assert main(["train", "--dataset", str(folder), "--shots", "1", "--captioner", "label", "--make-captions"]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_an_empty_folder_is_refused(tmp_path, capsys):
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    assert main(["train", "--dataset", str(tmp_path / "empty"), "--shots", "1"]) == 2
    assert "not a usable ImageFolder" in capsys.readouterr().err


def test_stores_of_the_kits_data_sets_stay_in_the_cache(tmp_path):
    assert default_store(str(tmp_path), None, "label").parent == OWN_DATA_STORES
    assert default_store("glyphs", None, "label").parent.name == "captions"
    assert OWN_DATA_STORES not in default_store("glyphs", None, "label").parents


class _Embedded:
    settings = {"backend": "transformers", "model": "embedded:ci"}


def test_the_embedded_captioner_warns_once_about_images_not_from_its_world():
    out = io.StringIO()
    check = WorldCheck(_Embedded(), out)
    for image in [Image.new("RGB", (32, 32))] * 3 + [Image.new("RGB", (80, 64))] * 2:
        check.see(image)
    assert out.getvalue().count("\n") == 1 and "not from it (e.g. 80x64 px)" in out.getvalue()
    quiet = io.StringIO()
    for captioner in (_Embedded(), type("Served", (), {"settings": {"model": "gpt-4o"}})()):
        check = WorldCheck(captioner, quiet)
        check.see(Image.new("RGB", (32, 32) if captioner.settings["model"] != "gpt-4o" else (640, 480)))
    assert quiet.getvalue() == ""
