"""Bad input never stops a run: each kind of bad image file is converted or skipped and listed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mmft_kit.__main__ import main
from mmft_kit.captions import caption_dataset, read_skipped, skipped_path
from mmft_kit.data import get_dataset, load_rgb, to_rgb
from mmft_kit.errors import InvalidInputError, UnreadableImageError

from conftest import BAD_FILES, RecordingCaptioner, write_bad_files, write_image_folder


def test_to_rgb_converts_every_mode_faithfully():
    grey16 = Image.fromarray(np.array([[0, 257 * 128, 65535]], dtype=np.uint16))
    assert np.asarray(to_rgb(grey16))[0, :, 0].tolist() == [0, 128, 255]  # PIL's own convert clips to 255
    clear = Image.new("LA", (2, 2), (0, 0))
    assert np.asarray(to_rgb(clear)).min() == 255  # transparent becomes white, not the black under it
    cmyk = Image.new("CMYK", (2, 2), (0, 255, 255, 0))
    assert to_rgb(cmyk).getpixel((0, 0)) == (255, 0, 0)
    rgb = Image.new("RGB", (3, 1))
    assert to_rgb(rgb) is rgb


def test_load_rgb_applies_exif_orientation_and_names_bad_files(tmp_path):
    paths = write_bad_files(tmp_path)
    upright = load_rgb(paths["rotated.jpg"])
    assert upright.size == (40, 60) and upright.mode == "RGB"  # stored 60 wide, 40 high, orientation 6
    for name, (fate, reason) in BAD_FILES.items():
        if fate == "skipped" and name != "tiny.png":
            with pytest.raises(UnreadableImageError) as caught:
                load_rgb(paths[name])
            assert caught.value.reason == reason and caught.value.path == str(paths[name])
            assert str(paths[name]) in str(caught.value)


def test_a_folder_of_good_and_bad_files_is_captioned_to_the_end(tmp_path):
    root = write_image_folder(tmp_path / "images", 6)
    bad = write_bad_files(root / "cat")
    dataset = get_dataset(str(root))
    captioner = RecordingCaptioner()
    store = tmp_path / "captions.jsonl"
    report = caption_dataset(dataset, captioner, store, characteristics=["visual"], progress=False)

    converted = [n for n, (fate, _) in BAD_FILES.items() if fate == "converted"]
    skipped = {n: reason for n, (fate, reason) in BAD_FILES.items() if fate == "skipped"}
    assert report.captioned == 6 + len(converted) and sum(report.skipped.values()) == len(skipped)
    assert all(image.mode == "RGB" for image in captioner.shown)
    listed = {e["path"]: e for e in read_skipped(store)}
    assert {p: e["reason"] for p, e in listed.items()} == {str(bad[n]): r for n, r in skipped.items()}
    assert listed[str(bad["tiny.png"])]["detail"].startswith("2x2")
    assert skipped_path(store) == tmp_path / "captions.skipped.jsonl"

    again = caption_dataset(dataset, captioner, store, characteristics=["visual"], progress=False)
    assert again.reused == report.captioned and again.captioned == 0
    lines = skipped_path(store).read_text().splitlines()
    assert sorted(json.loads(line)["path"] for line in lines) == sorted(str(bad[n]) for n in skipped)  # once each


def test_strict_stops_at_the_first_bad_file(tmp_path):
    root = write_image_folder(tmp_path / "images", 2)
    (root / "cat" / "broken.png").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="stopped at item .*broken.png.*empty file"):
        caption_dataset(get_dataset(str(root)), RecordingCaptioner(), tmp_path / "s.jsonl", progress=False,
                        strict=True)


def test_cli_run_with_one_unreadable_jpeg_among_good_images(tmp_path, capsys):
    root = write_image_folder(tmp_path / "images", 20)
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    store = tmp_path / "s.jsonl"
    argv = ["caption", "--dataset", str(root), "--store", str(store), "--captioner", "label", "--quiet",
            "--characteristics", "visual"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "captioned 20 images" in out and "skipped 1 (unreadable image (OSError): 1)" in out
    assert f"skipped images listed in {skipped_path(store)}" in out
    assert main(argv + ["--strict"]) == 2
    assert "broken.jpg" in capsys.readouterr().err
