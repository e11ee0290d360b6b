"""Runs of the frozen-feature baselines (``linear_probe``, ``tip_adapter``, ``tip_adapter_f``, ``lp_pp``).

The start model's image features of the few-shot, validation, test and extra evaluation images are
computed once per (model, data set, split, draw) in a process and shared by every baseline; the
baselines themselves (:mod:`mmft_kit.baselines`) see only tensors. Tip-Adapter's cache keys average
:data:`CACHE_VIEWS` augmented views (the authors' ``augment_epoch``); Tip-Adapter-F trains on one
view per epoch. Each baseline's zero-shot / text head is the single-prompt head of the run's prompt.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..baselines import fit_linear_probe, fit_lp_pp, fit_tip_adapter, fit_tip_adapter_f
from ..baselines.heads import FeatureHead
from ..data import split_hash
from ..inference import encode_images, prompt_head
from .augment import tip_adapter_transform
from ..errors import InvalidInputError
from ..run_logs import RunLogger
from .config import TrainConfig
from .data import Preprocessed, RunData
from .evalsets import class_subset, head_accuracy
from .run import RunResult, provenance, save_classifier_of, save_run
from .setup import set_up

#: Augmented views of the few-shot images averaged into Tip-Adapter's cache keys (the authors' 10).
CACHE_VIEWS = 10

_FEATURES: dict[tuple, Any] = {}


def cached_features(key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``key`` in this process (features of the frozen start model)."""
    if key not in _FEATURES:
        _FEATURES[key] = compute()
    return _FEATURES[key]


def _views(model: nn.Module, data: RunData, seed: int, views: int, batch_size: int) -> torch.Tensor:
    """``[views, N, D]`` features of the few-shot images under Tip-Adapter's augmentation (seeded)."""
    torch.manual_seed(seed)
    augmented = Preprocessed(data.few_shot, tip_adapter_transform(model), cache=False)
    return torch.stack([encode_images(model, augmented, batch_size=batch_size)[0] for _ in range(views)])


@dataclass
class Features:
    """What a frozen baseline fits on: few-shot features and labels, Tip-Adapter's augmented views of
    them (``[views, N, D]``, or None), validation features and labels, the zero-shot text head (Tip-Adapter's
    zero-shot term is at CLIP's scale 100, as the authors have it, whatever the CLIP learned)."""

    x: torch.Tensor
    y: torch.Tensor
    views: torch.Tensor | None
    val_x: torch.Tensor
    val_y: torch.Tensor
    text_head: torch.Tensor
    seed: int


@dataclass(frozen=True)
class Baseline:
    """One frozen baseline: ``fit(features) -> (head, info)``; ``views``: whether it needs augmented views."""

    fit: Callable[[Features], tuple[FeatureHead, dict]]
    views: bool = False


#: The frozen baselines by method name.
BASELINES: dict[str, Baseline] = {
    "linear_probe": Baseline(lambda f: fit_linear_probe(f.x, f.y, f.val_x, f.val_y, f.text_head.shape[0])),
    "tip_adapter": Baseline(lambda f: fit_tip_adapter(f.views, f.y, f.text_head, f.val_x, f.val_y), views=True),
    "tip_adapter_f": Baseline(lambda f: fit_tip_adapter_f(f.views, f.y, f.text_head, f.val_x, f.val_y, seed=f.seed),
                              views=True),
    "lp_pp": Baseline(lambda f: fit_lp_pp(f.x, f.y, f.text_head, f.val_x, f.val_y)),
}


def baseline(method: str) -> Baseline:
    """The frozen baseline ``method``."""
    if method not in BASELINES:
        raise InvalidInputError(f"{method!r} is no frozen baseline; those are {list(BASELINES)}")
    return BASELINES[method]


def run_frozen(config: TrainConfig) -> RunResult:
    """Run a frozen-feature baseline: the same data, test and extra evaluation sets as a fine-tuning run.

    The result's ``model`` is the start model and its ``head`` the fitted baseline head (the one tested).
    """
    method = baseline(config.method)
    setup = set_up(config)
    clip, preprocess, tokenizer, data = setup.clip, setup.preprocess, setup.tokenizer, setup.data
    val, test, extra_sets, zeroshot, template = setup.val, setup.test, setup.extra_sets, setup.zeroshot, setup.template
    base = (config.clip, config.pretrained, config.root)

    def features_of(name: str, split: str, dataset) -> tuple[torch.Tensor, torch.Tensor]:
        return cached_features(base + (name, split),
                               lambda: encode_images(clip, dataset, batch_size=config.eval_batch_size))

    train_key = (config.dataset, "few-shot", split_hash(data.train_indices))
    train = cached_features(base + train_key, lambda: encode_images(
        clip, Preprocessed(data.few_shot, preprocess), batch_size=config.eval_batch_size))
    views = None
    if method.views:
        views = cached_features(base + train_key + ("views", config.seed, CACHE_VIEWS),
                                lambda: _views(clip, data, config.seed, CACHE_VIEWS, config.eval_batch_size))
    val_features = features_of(config.dataset, f"val: {data.val_source}", val)
    text_head = prompt_head(clip, tokenizer, data.classnames, (template,))
    head, info = method.fit(Features(*train, views, *val_features, text_head, config.seed))
    test_accuracy = head_accuracy(head, *features_of(config.dataset, "test", test))
    evals = {name: head_accuracy(head, *features_of(name, "test", ds), class_subset(ds.dataset))
             for name, ds in extra_sets.items()}
    result = RunResult(
        method=config.method, seed=config.seed, metric="accuracy", higher_is_better=True, test=test_accuracy,
        val=float(info["val_accuracy"]), best_epoch=int(info.get("best_epoch", 0)),
        seconds=time.perf_counter() - setup.started, history=[], config=config.to_dict(),
        extra={"zeroshot": zeroshot, "wise_ft": None, "eval": evals, "baseline": info},
        provenance=provenance(config, data, None, setup.device), model=clip, head=head, tokenizer=tokenizer,
        preprocess=preprocess, data=data)
    RunLogger(config, config.dataset, "accuracy").finish(result)  # no epochs: the test figures alone
    if config.output_dir is not None:
        save_run(result, config.output_dir)
        if config.save_classifier:
            save_classifier_of(result)
    return result
