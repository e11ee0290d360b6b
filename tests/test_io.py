"""Atomic writes: what they leave follows the user's umask, from one file to a whole run from the command line."""

from __future__ import annotations

import os
import stat

import pytest
import torch
from safetensors.torch import save_file

from mmft_kit.__main__ import main
from mmft_kit.captions import CaptionStore
from mmft_kit.io import atomic_directory, atomic_write_json, atomic_write_text


@pytest.fixture
def umask():
    """Set the process's umask for a test (restored after it)."""
    before = os.umask(0o022)
    yield os.umask
    os.umask(before)


def _modes(folder):
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_atomic_writes_follow_the_umask(tmp_path, umask):
    for mask, file_mode, folder_mode in ((0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)):
        umask(mask)
        out = tmp_path / f"mask{mask:03o}"
        atomic_write_json(out / "results.json", {"test": 1.0})
        with atomic_directory(out / "classifier") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp / "head.safetensors"))  # safetensors writes 0600 files
            (tmp / "run.sh").write_text("#!/bin/sh\n")
            os.chmod(tmp / "run.sh", 0o755)
        CaptionStore(out / "store.jsonl", {"captioner": "label"})
        modes = _modes(out)
        assert modes.pop("classifier") == modes.pop(".") == folder_mode
        assert modes.pop("classifier/run.sh") == folder_mode  # an executable stays executable
        assert modes == {"results.json": file_mode, "classifier/head.safetensors": file_mode,
                         "store.jsonl": file_mode}


def test_what_the_command_line_writes_under_umask_022_is_readable_by_others(tmp_path, tiny_clip_dir, umask):
    out = tmp_path / "out"
    assert main(["caption", "--dataset", "glyphs", "--store", str(out / "store.jsonl"), "--captioner", "label",
                 "--limit", "4", "--quiet"]) == 0
    assert main(["caption", "export", "--store", str(out / "store.jsonl"), "--dataset", "glyphs",
                 "--to", str(out / "export")]) == 0
    assert main(["train", "--method", "ce", "--dataset", "glyphs", "--shots", "1", "--epochs", "1", "--clip",
                 f"local-dir:{tiny_clip_dir}", "--save-classifier", "--no-progress",
                 "--output-dir", str(out / "run")]) == 0
    assert main(["predict", "--model", str(out / "run"), "--images", str(out / "export" / "store_images"),
                 "--out", str(out / "predictions.csv"), "--quiet"]) == 0
    modes = _modes(out)
    for name in ("store.jsonl", "export/store.csv", "export/store.parquet", "run/results.json",
                 "run/provenance.json", "run/split.json", "run/best_model.pt", "run/classifier",
                 "run/classifier/head.safetensors", "predictions.csv"):
        assert name in modes
    private = {name: f"{mode:o}" for name, mode in modes.items() if not mode & stat.S_IROTH}
    assert private == {}
