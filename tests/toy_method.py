"""A method registered from outside the package, as a user would add one: ``nearest_mean``, the cosine head of
the few-shot images' mean start-model features per class (no training). Importing this module registers it."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from mmft_kit.baselines.heads import CosineHead, accuracy_of
from mmft_kit.inference import encode_images
from mmft_kit.methods import Method, register_method
from mmft_kit.records import save_record
from mmft_kit.train import RunResult, TrainConfig, load_run_data, load_start_model
from mmft_kit.train.data import Preprocessed, evaluation_sets

NAME = "nearest_mean"


class NearestMeanConfig(TrainConfig):
    """The CLIP family's settings serve it as they are."""

    what = "NearestMeanConfig settings"


def run_nearest_mean(config: NearestMeanConfig) -> RunResult:
    started = time.perf_counter()
    clip, preprocess, tokenizer = load_start_model(config.clip, config.pretrained, config.device)
    data = load_run_data(config)
    val, test = evaluation_sets(config, data, preprocess)
    features, labels = encode_images(clip, Preprocessed(data.few_shot, preprocess))
    means = torch.stack([features[labels == c].mean(0) for c in range(len(data.classnames))])
    head = CosineHead(F.normalize(means, dim=-1), float(clip.logit_scale.detach().exp()))

    def score(dataset) -> float:
        return accuracy_of(head.logits(encode_images(clip, dataset)[0]), encode_images(clip, dataset)[1])

    result = RunResult(method=config.method, seed=config.seed, metric="accuracy", higher_is_better=True,
                       test=score(test), val=score(val), best_epoch=0, seconds=time.perf_counter() - started,
                       history=[], config=config.to_dict(), model=clip, head=head, tokenizer=tokenizer,
                       preprocess=preprocess, data=data)
    if config.output_dir is not None:
        save_record(result, config.output_dir)
    return result


register_method(Method(NAME, "nearest class mean of the start model's few-shot features (a toy)", NearestMeanConfig,
                       run_nearest_mean, "toy", trains_weights=False), replace=True)
