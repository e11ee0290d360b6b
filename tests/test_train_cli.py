"""``python -m mmft_kit train``: options derived from the run config (dataclass or pydantic), the run folder it
writes, and clear errors."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Literal

import pydantic
import pytest
import torch

from mmft_kit.__main__ import build_parser, main
from mmft_kit.cli.options import add_options, declared_fields, option_values
from mmft_kit.cli.train import default_output_dir
from mmft_kit.train import TrainConfig


def tiny_clip(folder: Path) -> Path:
    """A random 1-block CLIP (32-wide towers, patch 8 on 32²) as an open_clip local-dir folder."""
    import open_clip

    cfg = {"embed_dim": 32,
           "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
           "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    torch.manual_seed(0)
    model = open_clip.model.CLIP(**cfg)
    folder.mkdir(parents=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder


@dataclasses.dataclass
class Settings:
    """Example settings.

    * ``shots``: images per class (``None``: all).
    """

    mode: Literal["fast", "slow"] = "fast"
    shots: int | None = 16
    rate: float = 1e-3
    tags: tuple[str, ...] | None = None
    amp: bool = True
    name: str = dataclasses.field(default="run", metadata={"help": "what the run is called"})


class PydanticSettings(pydantic.BaseModel):
    mode: Literal["fast", "slow"] = "fast"
    shots: int | None = pydantic.Field(16, description="images per class (None: all)")
    rate: float = 1e-3
    tags: tuple[str, ...] | None = None
    amp: bool = True
    name: str = pydantic.Field("run", description="what the run is called")


def parse(declaration, argv: list[str]) -> dict:
    parser = argparse.ArgumentParser()
    add_options(parser, declaration)
    return option_values(parser.parse_args(argv), declaration)


@pytest.mark.parametrize("declaration", [Settings, PydanticSettings])
def test_options_come_from_the_declaration(declaration):
    assert parse(declaration, []) == {"mode": "fast", "shots": 16, "rate": 1e-3, "tags": None, "amp": True,
                                      "name": "run"}
    given = parse(declaration, ["--mode", "slow", "--shots", "none", "--rate", "0.5", "--tags", "a", "b",
                                "--no-amp", "--name", "x"])
    assert given == {"mode": "slow", "shots": None, "rate": 0.5, "tags": ("a", "b"), "amp": False, "name": "x"}
    assert declaration(**given).tags == ("a", "b")
    helps = {f.name: f.help for f in declared_fields(declaration)}
    assert helps["shots"].startswith("images per class") and helps["name"] == "what the run is called"


@pytest.mark.parametrize("argv", [["--mode", "medium"], ["--shots", "four"], ["--rate"]])
def test_bad_values_are_refused_by_the_parser(argv):
    with pytest.raises(SystemExit):
        parse(Settings, argv)


def test_every_run_config_field_is_an_option():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    destinations = {action.dest for action in train._actions}
    assert {f.name for f in dataclasses.fields(TrainConfig)} <= destinations
    assert option_values(train.parse_args(["--shots", "none", "--characteristics", "shape"]), TrainConfig) == \
        {**TrainConfig().to_dict(), "shots": None, "characteristics": ("shape",)}


def test_default_run_folder_names_the_run():
    assert default_output_dir("/data/my dtd", "mmft", None, 1) == Path("runs/train/my_dtd/mmft-allshot-seed1")
    assert default_output_dir("glyphs", "ce", 4, 0) == Path("runs/train/glyphs/ce-4shot-seed0")


def test_run_writes_the_notebooks_run_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    clip = tiny_clip(tmp_path / "clip")
    status = main(["train", "--method", "zeroshot", "--dataset", "glyphs", "--shots", "2", "--seed", "0",
                   "--model", f"local-dir:{clip}", "--no-progress"])
    assert status == 0
    folder = tmp_path / "runs/train/glyphs/zeroshot-2shot-seed0"
    results = json.loads((folder / "results.json").read_text())
    assert results["method"] == "zeroshot" and 0.0 <= results["test_accuracy"] <= 1.0
    assert (folder / "provenance.json").is_file()
    assert f"test accuracy {results['test_accuracy']:.4f}" in capsys.readouterr().out


def test_bad_setting_is_a_clear_error_with_status_2(capsys):
    assert main(["train", "--batch-size", "0", "--method", "zeroshot"]) == 2
    assert "batch_size" in capsys.readouterr().err
