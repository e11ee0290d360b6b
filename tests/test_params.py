"""Parameter declarations: text from command lines converted, one message for every bad value, command lines
derived from a model."""

from __future__ import annotations

import argparse

import pytest
from pydantic import Field

from mmft_kit.errors import InvalidInputError
from mmft_kit.params import Params, add_arguments, from_arguments


class Example(Params):
    shots: int = Field(4, ge=1, description="images per class")
    seeds: list[int] = Field([0], min_length=1, description="one run per seed")
    template: str | None = Field(None, description="a template")
    lr: float = Field(3e-4, gt=0, description="learning rate")


def test_text_becomes_numbers_lists_and_none():
    example = Example(shots="2", seeds="0, 1", template="None", lr="1e-3")
    assert (example.shots, example.seeds, example.template, example.lr) == (2, [0, 1], None, 1e-3)
    assert Example(seeds="[3, 4]").seeds == [3, 4] and Example(seeds=7).seeds == [7]
    assert Example(seeds="5 6").updated(shots=9).model_dump() == {"shots": 9, "seeds": [5, 6], "template": None,
                                                                   "lr": 3e-4}


def test_every_problem_in_one_message_with_the_meaning_and_a_suggestion():
    with pytest.raises(InvalidInputError) as caught:
        Example(shots=0, seeds="a", lr=-1, shot=3)
    lines = str(caught.value).splitlines()
    assert lines[0] == "bad parameters:"
    assert "  shots = 0: Input should be greater than or equal to 1 [images per class]" in lines
    assert any(line.startswith("  seeds[0] = 'a'") for line in lines)
    assert any(line.startswith("  shot: unknown; did you mean 'shots'?") for line in lines)
    with pytest.raises(InvalidInputError, match="lr = 0: Input should be greater than 0"):
        Example().updated(shots=3, lr=0)


def test_a_command_line_is_derived_from_the_model():
    parser = argparse.ArgumentParser()
    add_arguments(parser, Example, ["shots", "seeds", "lr"], defaults={"shots": 8})
    assert "images per class (default: 8)" in parser.format_help() and "--template" not in parser.format_help()
    args = parser.parse_args(["--seeds", "1", "2", "--lr", "0.01"])
    example = from_arguments(Example, args, defaults={"shots": 8}, template="t")
    assert example.model_dump() == {"shots": 8, "seeds": [1, 2], "template": "t", "lr": 0.01}
    with pytest.raises(InvalidInputError, match="shots = '0'"):
        from_arguments(Example, parser.parse_args(["--shots", "0"]))
