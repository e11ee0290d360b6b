"""Each parameter is declared once: a field of the shared groups has one declaration (type, range, meaning), and
every entry point that takes it — run configs, notebook models, the caption command's models, the command lines of
the kit and of the benchmarks — carries that declaration instead of retyping it (a default of its own is fine)."""

from __future__ import annotations

import argparse
import importlib
import inspect

import pytest

from mmft_kit.notebook import NOTEBOOKS, NotebookParams
from mmft_kit.params import Params, fields
from mmft_kit.params import captions as caption_params
from mmft_kit.params import prompts as prompt_params
from mmft_kit.pare import config as pare_config
from mmft_kit.pare import PareConfig
from mmft_kit.train import TrainConfig

#: The modules whose Params classes are the shared groups.
GROUP_MODULES = (fields, caption_params, pare_config)


def _groups() -> list[type[Params]]:
    return [cls for module in GROUP_MODULES for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Params) and cls.__module__ == module.__name__
            and cls not in (caption_params.CaptionJob, caption_params.CaptionExport, PareConfig)]


def _signature(field) -> tuple[str, str, str]:
    return repr(field.annotation), field.description or "", repr(field.metadata)


def declarations() -> dict[str, tuple[str, str, str]]:
    """Field name → its declaration in the shared groups; two different ones fail here."""
    found: dict[str, tuple[str, str, str]] = {}
    for group in _groups():
        for name in getattr(group, "__annotations__", {}):
            if name in group.model_fields:
                signature = _signature(group.model_fields[name])
                assert found.setdefault(name, signature) == signature, f"{group.__name__}.{name} is declared twice"
    return found


ENTRY_MODELS = [*NOTEBOOKS.values(), caption_params.CaptionJob, caption_params.CaptionExport, TrainConfig, PareConfig,
                prompt_params.PromptScoreParams, prompt_params.PromptRankJob,
                importlib.import_module("benchmarks.few_shot").Grid]


@pytest.mark.parametrize("model", ENTRY_MODELS, ids=lambda m: m.__name__)
def test_entry_point_models_carry_the_shared_declarations(model):
    shared = declarations()
    own = set(NotebookParams.model_fields)  # a notebook's own output folder and widget mode
    retyped = [name for name, field in model.model_fields.items()
               if name in shared and name not in own and _signature(field) != shared[name]]
    assert not retyped, f"{model.__name__} retypes {retyped}: inherit the group (or redefault) instead"


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """The kit's command lines and each benchmark's, caught as they parse."""
    from mmft_kit.__main__ import build_parser

    subcommands = build_parser()._subparsers._group_actions[0].choices
    parsers = {f"mmft_kit {name}": subcommands[name] for name in ("train", "caption")}
    parsers["mmft_kit caption export"] = subcommands["caption"]._subparsers._group_actions[0].choices["export"]
    parsers["mmft_kit prompts rank"] = subcommands["prompts"]._subparsers._group_actions[0].choices["rank"]

    class Caught(Exception):
        pass

    def catch(self, argv=None, namespace=None):
        parsers[f"benchmarks.{name}"] = self
        raise Caught

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = catch
    try:
        for name, entry in (("few_shot", "parse_args"), ("pare", "main"), ("gpu_check", "parse_args"),
                            ("train_overhead", "main"), ("caption_throughput", "parse_args"),
                            ("prompt_score", "main")):
            with pytest.raises(Caught):
                getattr(importlib.import_module(f"benchmarks.{name}"), entry)([])
    finally:
        argparse.ArgumentParser.parse_args = original
    return parsers


def test_command_lines_take_declared_options_from_their_declaration():
    known: dict[str, set[str]] = {}
    for model in [*_groups(), *ENTRY_MODELS]:
        for name, field in model.model_fields.items():
            known.setdefault(name, set()).add(field.description or "")
    retyped = [f"{where}: --{action.dest}" for where, parser in _parsers().items() for action in parser._actions
               if action.dest in known and not any((action.help or "").startswith(d) for d in known[action.dest])]
    assert not retyped, f"options retyped instead of derived from their field (params.add_arguments): {retyped}"


def test_the_check_catches_a_retyped_option():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    description = TrainConfig.model_fields["lr"].description
    assert not parser._actions[1].help.startswith(description)
