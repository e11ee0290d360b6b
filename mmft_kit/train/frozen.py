"""Runs of the frozen-feature baselines (``linear_probe``, ``tip_adapter``, ``tip_adapter_f``, ``lp_pp``).

The start model's image features of the few-shot, validation, test and extra evaluation images are
computed once per (model, data set, split, draw) in a process and shared by every baseline; the
baselines themselves (:mod:`mmft_kit.baselines`) see only tensors. Tip-Adapter's cache keys average
:data:`CACHE_VIEWS` augmented views (the authors' ``augment_epoch``); Tip-Adapter-F trains on one
view per epoch. Each baseline's zero-shot / text head is the single-prompt head of the run's prompt.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch
from torch import nn

from ..baselines import fit_linear_probe, fit_lp_pp, fit_tip_adapter, fit_tip_adapter_f
from ..baselines.heads import FeatureHead
from ..data import split_hash
from ..inference import encode_images, prompt_head
from ..runtime import resolve_device, seed_everything
from ..text import prompt_template
from .augment import tip_adapter_transform
from .config import TrainConfig
from .data import Preprocessed, RunData, evaluation_sets, load_run_data
from .evalsets import class_subset, head_accuracy, load_eval_sets

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


def fit_baseline(method: str, train: tuple[torch.Tensor, torch.Tensor], views: torch.Tensor | None,
                 val: tuple[torch.Tensor, torch.Tensor], text_head: torch.Tensor,
                 seed: int) -> tuple[FeatureHead, dict]:
    """Fit one frozen baseline from features (``views``: Tip-Adapter's augmented views of the train images;
    Tip-Adapter's zero-shot term is at CLIP's scale 100, as the authors have it, whatever the CLIP learned)."""
    (x, y), (vx, vy) = train, val
    if method == "linear_probe":
        return fit_linear_probe(x, y, vx, vy, text_head.shape[0])
    if method == "tip_adapter":
        return fit_tip_adapter(views, y, text_head, vx, vy)
    if method == "tip_adapter_f":
        return fit_tip_adapter_f(views, y, text_head, vx, vy, seed=seed)
    return fit_lp_pp(x, y, text_head, vx, vy)


def run_frozen(config: TrainConfig):
    """Run a frozen-feature baseline: the same data, test and extra evaluation sets as a fine-tuning run."""
    from .run import RunResult, load_start_model, provenance, save_classifier_of, save_run, zero_shot_accuracy

    start = time.perf_counter()
    seed_everything(config.seed)
    device = resolve_device(config.device)
    clip, preprocess, tokenizer = load_start_model(config.clip, config.pretrained, device)
    data = load_run_data(config)
    val, test = evaluation_sets(config, data, preprocess)
    extra_sets = load_eval_sets(config.eval_set_names, config.root, preprocess, data.classnames)
    template = prompt_template(config.prompt_full_stop)
    zeroshot = zero_shot_accuracy(config, clip, tokenizer, test)
    base = (config.clip, config.pretrained, config.root)

    def features_of(name: str, split: str, dataset) -> tuple[torch.Tensor, torch.Tensor]:
        return cached_features(base + (name, split),
                               lambda: encode_images(clip, dataset, batch_size=config.eval_batch_size))

    train_key = (config.dataset, "few-shot", split_hash(data.train_indices))
    train = cached_features(base + train_key, lambda: encode_images(
        clip, Preprocessed(data.few_shot, preprocess), batch_size=config.eval_batch_size))
    views = None
    if config.method in ("tip_adapter", "tip_adapter_f"):
        views = cached_features(base + train_key + ("views", config.seed, CACHE_VIEWS),
                                lambda: _views(clip, data, config.seed, CACHE_VIEWS, config.eval_batch_size))
    val_features = features_of(config.dataset, f"val: {data.val_source}", val)
    text_head = prompt_head(clip, tokenizer, data.classnames, (template,))
    head, info = fit_baseline(config.method, train, views, val_features, text_head, config.seed)
    test_accuracy = head_accuracy(head, *features_of(config.dataset, "test", test))
    evals = {name: head_accuracy(head, *features_of(name, "test", ds), class_subset(ds.dataset))
             for name, ds in extra_sets.items()}
    result = RunResult(
        method=config.method, seed=config.seed, metric="accuracy", higher_is_better=True, test=test_accuracy,
        val=float(info["val_accuracy"]), best_epoch=int(info.get("best_epoch", 0)),
        seconds=time.perf_counter() - start, history=[], config=config.to_dict(),
        extra={"zeroshot": zeroshot, "wise_ft": None, "eval": evals, "baseline": info},
        provenance=provenance(config, data, None, device), model=clip, head=text_head, tokenizer=tokenizer,
        preprocess=preprocess, data=data, feature_head=head)
    if config.output_dir is not None:
        save_run(result, config.output_dir)
        if config.save_classifier:
            save_classifier_of(result)
    return result
