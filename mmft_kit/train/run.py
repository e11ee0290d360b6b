"""One fine-tuned CLIP run from a :class:`TrainConfig`: data, captions, zero-shot baseline, fine-tuning, test,
provenance; and the run result, record and folder every CLIP method (frozen baselines too) shares."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..baselines.heads import FeatureHead
from ..captions import CaptionedDataset, training_text
from ..classifier import model_config, save_classifier
from ..data import image_folder_path
from ..data.few_shot import write_split
from ..inference import ENSEMBLE_TEMPLATES, accuracy
from ..method import get_method
from ..models import resolve_clip_name
from ..provenance import build_provenance, split_record, write_provenance
from ..records import EpochRecord, save_record
from ..records import RunResult as RunRecord
from ..run_logs import RunLogger
from ..text import prompt_template
from ..wiseft import interpolate_weights, wise_ft_curve
from .captions import load_captions
from .augment import open_clip_train_transform
from .config import TrainConfig
from .data import (Preprocessed, RunData, TokenizedTexts, prompts_per_index,
                   run_split, texts_by_class)
from .evalsets import model_accuracy
from .loop import FitResult, cpu_state, fine_tune, is_main_process, on_main_process
from .methods import class_head, feature_head, loss_function, recipe, trainable_model
from .setup import set_up

#: The run's images in CoOp's split format (see :func:`mmft_kit.data.few_shot.write_split`).
SPLIT_NAME = "split.json"
#: Where a run with ``save_classifier`` writes its classifier (see :mod:`mmft_kit.classifier`).
CLASSIFIER_DIR = "classifier"
#: Fields that do not change what a run computes (left out of its checkpoint signature).
_NOT_IN_SIGNATURE = ("output_dir", "progress", "device", "num_workers", "eval_batch_size", "wise_ft", "make_captions",
                     "eval_sets", "save_classifier", "save_wise_ft_alpha", "report_to", "log_dir")


@dataclass
class RunResult(RunRecord):
    """The run record (:class:`mmft_kit.records.RunResult`: ``test`` / ``val`` accuracy, ``history``,
    ``seconds``; ``extra`` holds ``zeroshot``, the start model's test accuracy, and ``wise_ft``, the
    ``(α, test accuracy)`` curve when asked for), plus the trained model and what goes with it.

    ``model`` is the trained module with its best-validation weights (a CLIP; for ``ce`` a
    :class:`~mmft_kit.train.methods.ZeroShotInitClassifier`; for the frozen baselines the start model);
    ``head`` the head on its normalised image features (:mod:`mmft_kit.baselines.heads`) that was
    scored: the one the plots, the saved classifier and ``predict`` use. ``extra`` also holds ``eval``
    (accuracy on each of ``config.eval_sets``), ``wise_ft_eval`` (their WiSE-FT curves) and, for the
    frozen baselines, ``baseline`` (what the fit chose). The in-memory parts are left out by
    :meth:`record` and :meth:`to_dict`.
    """

    provenance: dict[str, Any] = field(default_factory=dict, repr=False)
    model: nn.Module | None = field(default=None, repr=False)
    head: FeatureHead | None = field(default=None, repr=False)
    tokenizer: Callable | None = field(default=None, repr=False)
    preprocess: Callable | None = field(default=None, repr=False)
    data: RunData | None = field(default=None, repr=False)
    texts_by_class: list[list[str]] = field(default_factory=list, repr=False)

    @property
    def train_config(self) -> TrainConfig:
        """The run's settings as its method's config (a :class:`TrainConfig`, or a subclass of it)."""
        return get_method(self.method).make_config(**self.config)


def training_texts(config: TrainConfig, data: RunData) -> tuple[list[list[str]], dict | None]:
    """Per few-shot image, its texts: captions for ``mmft`` (with the store's record), else the class prompt
    (for ``flyp_templates="random80"``: CLIP's 80 templates, one drawn per visit)."""
    method = recipe(config.method)
    if method.texts == "captions":
        return load_captions(config, data.few_shot)
    random80 = config.flyp_templates == "random80" and method.random80
    templates = ENSEMBLE_TEMPLATES if random80 else (prompt_template(config.prompt_full_stop),)
    return prompts_per_index(data.few_shot, templates), None


def _prototype_texts(config: TrainConfig, data: RunData, texts: list[list[str]]) -> list[list[str]]:
    labels = data.few_shot.targets
    prefixed = [[training_text(t, data.classnames[y], config.add_class_prefix) for t in ts]
                for ts, y in zip(texts, labels)]
    return texts_by_class(prefixed, labels, len(data.classnames))


def run_fine_tuning(config: TrainConfig) -> RunResult:
    """Run ``config``: fine-tune with its method, keep the best-validation weights, test them.

    Also measures the start model's zero-shot test accuracy, optionally the WiSE-FT curve, and
    with ``config.output_dir`` writes ``results.json``, ``provenance.json`` and the checkpoints there.
    """
    method = recipe(config.method)
    setup = set_up(config)
    clip, preprocess, tokenizer, data = setup.clip, setup.preprocess, setup.tokenizer, setup.data
    val, test, extra_sets, zeroshot, template = setup.val, setup.test, setup.extra_sets, setup.zeroshot, setup.template
    texts, store_record = training_texts(config, data)
    model = trainable_model(config.method, clip, tokenizer, data.classnames, template)
    prototypes = _prototype_texts(config, data, texts) if method.texts == "captions" else []

    def evaluate(m: nn.Module, dataset: Preprocessed) -> float:
        head = class_head(config.method, m, tokenizer, data.classnames, prototypes, template)
        return accuracy(m, head, dataset, batch_size=config.eval_batch_size)

    def evaluate_sets(m: nn.Module) -> dict[str, float]:
        """Accuracy on each extra evaluation set (one head per model state)."""
        if not extra_sets:
            return {}
        head = feature_head_of(config, m, tokenizer, data.classnames, prototypes)
        return {name: model_accuracy(m, head, ds, config.eval_batch_size) for name, ds in extra_sets.items()}

    log = RunLogger(config, config.dataset, "accuracy")
    trace_wise_ft = config.wise_ft and get_method(config.method).wise_ft
    needs_start = trace_wise_ft or config.save_wise_ft_alpha is not None
    start_state = cpu_state(model) if needs_start else None
    if method.loss is None:  # trains nothing
        history, best_epoch, val_accuracy = [], 0, on_main_process(lambda: evaluate(model, val))
    else:
        train_transform = open_clip_train_transform(clip) if config.train_augment else preprocess
        train_images = Preprocessed(data.few_shot, train_transform, cache=not config.train_augment)
        captioned = CaptionedDataset(train_images, texts, seed=config.seed,
                                     add_class_prefix=config.add_class_prefix and method.texts == "captions")
        train_data = TokenizedTexts(captioned, captioned.all_texts(), tokenizer)
        fit = _fine_tune(config, model, train_data, tokenizer, lambda m: evaluate(m, val),
                         _signature(config, data, store_record), log.epoch)
        history, best_epoch, val_accuracy = fit.history, fit.best_epoch, fit.best_val
    head = class_head(config.method, model, tokenizer, data.classnames, prototypes, template)
    test_accuracy = zeroshot if method.loss is None else \
        on_main_process(lambda: accuracy(model, head, test, batch_size=config.eval_batch_size))
    extra: dict[str, Any] = {"zeroshot": zeroshot, "wise_ft": None,
                             "eval": on_main_process(lambda: evaluate_sets(model))}
    if trace_wise_ft:
        traced: dict[str, list[float]] = {name: [] for name in extra_sets}

        def trace(m: nn.Module) -> float:
            for name, acc in evaluate_sets(m).items():
                traced[name].append(acc)
            return evaluate(m, test)

        wise = on_main_process(lambda: wise_ft_curve(model, start_state, cpu_state(model), trace,
                                                     progress=config.progress))
        extra["wise_ft"] = wise
        if is_main_process():
            extra["wise_ft_eval"] = {name: [(a, acc) for (a, _), acc in zip(wise, accs)]
                                     for name, accs in traced.items()}

    result = RunResult(
        method=config.method, seed=config.seed, metric="accuracy", higher_is_better=True, test=test_accuracy,
        val=val_accuracy, best_epoch=best_epoch, seconds=time.perf_counter() - setup.started, history=history,
        config=config.to_dict(), extra=extra,
        provenance=provenance(config, data, store_record, setup.device), model=model,
        head=method.feature_head(model, head), tokenizer=tokenizer, preprocess=preprocess, data=data,
        texts_by_class=prototypes)
    log.finish(result)
    if config.output_dir is not None and is_main_process():
        save_run(result, config.output_dir)
        if config.save_classifier:
            save_classifier_of(result, start_state)
    return result


def feature_head_of(config: TrainConfig, model: nn.Module, tokenizer: Callable, classnames: list[str],
                    prototypes: list[list[str]]) -> FeatureHead:
    """The head ``config.method`` classifies ``model``'s normalised image features with."""
    template = prompt_template(config.prompt_full_stop)
    return feature_head(config.method, model, tokenizer, classnames, prototypes, template)


def save_classifier_of(result: RunResult, start_state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write ``result``'s classifier to ``OUTPUT_DIR/classifier``; with ``save_wise_ft_alpha`` the
    weights (and head) of the WiSE-FT interpolation at that α (``start_state``: the start weights)."""
    config, model = result.train_config, result.model
    alpha = config.save_wise_ft_alpha
    head = result.head
    finetuned = cpu_state(model) if alpha is not None else None
    try:
        if alpha is not None:
            model.load_state_dict(interpolate_weights(start_state, finetuned, alpha))
            head = feature_head_of(config, model, result.tokenizer, result.data.classnames, result.texts_by_class)
        info = {"method": config.method, "dataset": config.dataset, "shots": config.shots, "seed": config.seed,
                "start_model": config.clip, "test_accuracy": result.test}
        return save_classifier(Path(config.output_dir) / CLASSIFIER_DIR, model, head, result.data.classnames,
                               model_config(config.clip), wise_ft_alpha=alpha, info=info)
    finally:
        if finetuned is not None:
            model.load_state_dict(finetuned)


def _fine_tune(config: TrainConfig, model: nn.Module, train_data: TokenizedTexts, tokenizer: Callable,
               evaluate: Callable[[nn.Module], float], signature: dict,
               on_epoch: Callable[[EpochRecord], None] | None = None) -> FitResult:
    return fine_tune(model, train_data, loss_function(config.method, tokenizer, config.w), evaluate, config, signature,
                     on_epoch)


def _signature(config: TrainConfig, data: RunData, store_record: dict | None) -> dict:
    settings = {k: v for k, v in config.to_dict().items() if k not in _NOT_IN_SIGNATURE}
    settings["split_hash"] = record_split(config, data)["hash"]
    settings["caption_store_settings"] = store_record["settings_id"] if store_record else None
    return settings


def record_split(config: TrainConfig, data: RunData) -> dict:
    """The few-shot split as provenance records it."""
    return split_record(data.train_indices, data.few_shot.targets, dataset=config.dataset, shots=config.shots,
                        seed=config.seed, indices_of="the data set's train split", val_source=data.val_source,
                        val_size=len(data.val), test_size=len(data.test))


def provenance(config: TrainConfig, data: RunData, store_record: dict | None, device: torch.device) -> dict:
    """The provenance record of a run (see :mod:`mmft_kit.provenance`)."""
    resolved = {
        "method": get_method(config.method).description,
        "model": resolve_clip_name(config.clip),
        "device": str(device),
        "amp": bool(config.amp and device.type == "cuda"),
        "classnames": data.classnames,
        "domain": data.domain,
        "schedule": f"AdamW (no decay on gains, biases, logit scale), {config.schedule} per step to 0, "
                    f"{config.warmup_steps} warm-up steps",
        "selection": "weights of the first epoch with the best validation accuracy",
        "zeroshot_head": f"single prompt {prompt_template(config.prompt_full_stop)!r} on the start model",
        "logit_scale": "clamped at 100 after every step" if config.clamp_logit_scale else "unclamped",
        "train_transform": "open_clip RandomResizedCrop(scale 0.9-1.0)" if config.train_augment
        else "the evaluation transform",
    }
    return build_provenance(config.to_dict(), record_split(config, data), store_record, resolved)


def save_run(result: RunResult, folder: str | Path) -> None:
    """Write ``results.json``, ``provenance.json`` and the CoOp-style ``split.json`` of ``result`` into ``folder``."""
    save_record(result, folder)
    write_provenance(folder, result.provenance)
    config = result.train_config
    own = image_folder_path(config.dataset, config.root)  # the user's folder: items as paths inside it
    write_split(Path(folder) / SPLIT_NAME, run_split(result.data, str(own) if own else config.root),
                dataset=config.dataset, shots=config.shots, seed=config.seed, test_from=result.data.test_source,
                indices_of="train and val: the data set's train split (its val split where it has one); "
                           "test: its test split, or the train split where the test set is held out of it")
