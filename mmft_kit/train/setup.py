"""What every CLIP-family run starts from: the start model (loaded once per process), the run's data and
evaluation sets, and the start model's zero-shot accuracy (:func:`set_up`), shared by fine-tuned and frozen methods."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch
from torch import nn

from ..inference import accuracy, prompt_head
from ..models import load_clip
from ..runtime import resolve_device, seed_everything
from ..text import prompt_template
from .config import TrainConfig
from .data import Preprocessed, RunData, evaluation_sets, load_run_data
from .evalsets import load_eval_sets
from .loop import on_main_process


@lru_cache(maxsize=2)
def _cached_clip(name: str, pretrained: str | None):
    return load_clip(name, pretrained, device="cpu")


def load_start_model(name: str, pretrained: str | None = None, device: str | torch.device | None = None):
    """``(model, preprocess, tokenizer)`` like :func:`mmft_kit.models.load_clip`: a fresh copy of the start
    weights each call (loaded from disk once per process)."""
    model, preprocess, tokenizer = _cached_clip(name, pretrained)
    return copy.deepcopy(model).to(resolve_device(device)), preprocess, tokenizer


_ZERO_SHOT: dict[tuple, float] = {}


def zero_shot_accuracy(config: TrainConfig, model: nn.Module, tokenizer: Callable, test: Preprocessed) -> float:
    """Test accuracy of the start model with the single-prompt head (computed once per model and data set)."""
    key = (config.clip, config.pretrained, config.dataset, config.root, config.prompt_full_stop)
    if key not in _ZERO_SHOT:
        head = prompt_head(model, tokenizer, test.classnames, (prompt_template(config.prompt_full_stop),))
        _ZERO_SHOT[key] = accuracy(model, head, test, batch_size=config.eval_batch_size)
    return _ZERO_SHOT[key]


@dataclass
class RunSetup:
    """A run's start: when it started, its device, the start model with its preprocessing and tokenizer, its
    data, validation and test sets, extra evaluation sets, the start model's zero-shot test accuracy and the
    single prompt template."""

    started: float
    device: torch.device
    clip: nn.Module
    preprocess: Callable
    tokenizer: Callable
    data: RunData
    val: Preprocessed
    test: Preprocessed
    extra_sets: dict[str, Preprocessed]
    zeroshot: float
    template: str


def set_up(config: TrainConfig) -> RunSetup:
    """Seed, load the start model and the data of ``config``, and measure the start model zero-shot."""
    started = time.perf_counter()
    seed_everything(config.seed)
    device = resolve_device(config.device)
    clip, preprocess, tokenizer = load_start_model(config.clip, config.pretrained, device)
    data = load_run_data(config)
    val, test = evaluation_sets(config, data, preprocess)
    extra_sets = load_eval_sets(config.eval_set_names, config.root, preprocess, data.classnames)
    zeroshot = on_main_process(lambda: zero_shot_accuracy(config, clip, tokenizer, test))
    return RunSetup(started, device, clip, preprocess, tokenizer, data, val, test, extra_sets, zeroshot,
                    prompt_template(config.prompt_full_stop))
