"""``python -m mmft_kit caption`` end to end with the label captioner on a world task."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import mmft_kit.captions
from mmft_kit.__main__ import build_parser, main


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def test_caption_command_runs_resumes_and_reports(tmp_path, capsys):
    store = tmp_path / "glyphs.jsonl"
    argv = ["caption", "--dataset", "glyphs", "--store", str(store), "--captioner", "label", "--quiet"]
    assert main(argv + ["--limit", "5", "--characteristics", "visual", "shape"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"captioned 5 images (10 captions), reused 0 from the store, skipped 0 -> {store}"
    )
    records = _records(store)
    assert [r["characteristic"] for r in records[:2]] == ["visual", "shape"]
    assert all(r["caption"] == f"a photo of a {r['class'].replace('_', ' ')}." for r in records)
    assert main(argv + ["--limit", "8", "--characteristics", "visual", "shape"]) == 0
    assert "captioned 3 images (6 captions), reused 5 from the store" in capsys.readouterr().out
    assert main(argv + ["--limit", "8", "--words", "30"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: caption store") and "words: store has 50, asked for 30" in err


def test_bad_arguments_give_one_clear_error(tmp_path, capsys):
    store = str(tmp_path / "s.jsonl")
    assert main(["caption", "--dataset", "glyphs", "--store", store, "--captioner", "label", "--shard", "2/2"]) == 2
    assert "give i from 0 to 1" in capsys.readouterr().err
    assert main(["caption", "--dataset", "no_such_data", "--store", store, "--captioner", "label"]) == 2
    assert "unknown data set 'no_such_data'" in capsys.readouterr().err


def test_interrupt_says_how_to_continue(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mmft_kit.captions, "caption_dataset", interrupted)
    argv = ["caption", "--dataset", "glyphs", "--store", str(tmp_path / "s.jsonl"), "--captioner", "label"]
    assert main(argv) == 130
    assert "run the same command again to continue" in capsys.readouterr().err


def test_parser_lists_subcommands():
    parser = build_parser()
    assert "caption" in parser.format_help()
    with pytest.raises(SystemExit):
        parser.parse_args([])


def test_module_entry_point(tmp_path):
    store = tmp_path / "s.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "mmft_kit", "caption", "--dataset", "tiles", "--split", "val", "--store", str(store),
         "--captioner", "label", "--limit", "3"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "captioned 3 images (9 captions)" in done.stdout and "captioning" in done.stderr  # the progress bar
    assert len(_records(store)) == 9
