"""``python -m mmft_kit train``: options derived from the run config, the run folder it writes, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path


from mmft_kit.__main__ import build_parser, main
from mmft_kit.params import from_arguments
from mmft_kit.cli.train import default_output_dir
from mmft_kit.train import TrainConfig


def test_every_run_config_field_is_an_option():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    destinations = {action.dest for action in train._actions}
    assert set(TrainConfig.model_fields) <= destinations
    config = from_arguments(TrainConfig, train.parse_args(["--shots", "none", "--characteristics", "shape",
                                                           "--no-progress"]))
    assert config == TrainConfig(shots=None, characteristics=["shape"], progress=False)


def test_default_run_folder_names_the_run():
    assert default_output_dir("/data/my dtd", "mmft", None, 1) == Path("runs/train/my_dtd/mmft-allshot-seed1")
    assert default_output_dir("glyphs", "ce", 4, 0) == Path("runs/train/glyphs/ce-4shot-seed0")


def test_run_writes_the_notebooks_run_folder(tmp_path, tiny_clip_dir, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status = main(["train", "--method", "zeroshot", "--dataset", "glyphs", "--shots", "2", "--seed", "0",
                   "--clip", f"local-dir:{tiny_clip_dir}", "--no-progress"])
    assert status == 0
    folder = tmp_path / "runs/train/glyphs/zeroshot-2shot-seed0"
    results = json.loads((folder / "results.json").read_text())
    assert results["method"] == "zeroshot" and 0.0 <= results["test"] <= 1.0
    assert (folder / "provenance.json").is_file()
    assert f"test accuracy {results['test']:.4f}" in capsys.readouterr().out


def test_bad_setting_is_a_clear_error_with_status_2(capsys):
    assert main(["train", "--batch-size", "0", "--method", "zeroshot"]) == 2
    assert "--batch-size" in capsys.readouterr().err


def test_errors_from_the_command_line_name_its_flags(tmp_path, tiny_clip_dir, capsys):
    assert main(["train", "--lr", "-1", "--epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert "  --lr '-1': Input should be greater than 0" in err and "  --epochs '0'" in err
    assert "python -m mmft_kit train --help" in err and "where the config is made" not in err
    assert main(["train", "--dataset", "glyphs", "--shots", "1", "--clip", f"local-dir:{tiny_clip_dir}",
                 "--captioner", "label", "--caption-store", str(tmp_path / "none.jsonl"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "(or pass --make-captions)" in err and "make_captions" not in err
    assert main(["caption", "--dataset", "dtd"]) == 2
    err = capsys.readouterr().err
    assert "pass --root" in err and "root=" not in err


def test_a_missing_model_folder_reads_no_such_folder(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["train", "--method", "zeroshot", "--clip", str(missing), "--no-progress"]) == 2
    assert f"no such folder: {missing}" in capsys.readouterr().err
    assert main(["predict", "--model", str(missing), "--images", str(tmp_path)]) == 2
    assert f"no such folder: {missing}" in capsys.readouterr().err


def test_the_python_api_keeps_python_names():
    import pytest

    from mmft_kit.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"(?s)  lr = -1: .*Fix them where the config is made"):
        TrainConfig(lr=-1)
