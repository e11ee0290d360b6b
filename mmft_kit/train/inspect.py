"""Looking into trained runs: test predictions, and embedding views before and after fine-tuning."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..embeddings import EmbeddingView, embedding_view, separation_score
from ..inference import encode_images
from ..text import class_prompt
from .data import Preprocessed
from .methods import class_head
from .run import RunResult
from .setup import load_start_model


def predictions(result: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted test labels of ``result``: its model's features through its scored head."""
    test = Preprocessed(result.data.test, result.preprocess)
    features, labels = encode_images(result.model, test, batch_size=result.train_config.eval_batch_size)
    return labels.numpy(), result.head.logits(features).argmax(dim=1).numpy()


def fine_tuning_views(results: Mapping[str, RunResult]) -> dict[str, EmbeddingView]:
    """Embedding views of the test images before fine-tuning (``"before"``: the start model) and after each method.

    Args:
        results: method → run of one seed.

    Returns:
        ``"before"`` and each method → its view. The texts are the ``mmft`` run's training captions
        when there is one (else the class prompts); the prototypes are each model's own class head
        (the start model's with the ``mmft`` rule when captions exist).
    """
    first = next(iter(results.values()))
    classnames = first.data.classnames
    captioned = results.get("mmft")
    texts = captioned.texts_by_class if captioned is not None else [[class_prompt(c)] for c in classnames]
    start, preprocess, tokenizer = load_start_model(first.train_config.clip, first.train_config.pretrained)
    reference = "mmft" if captioned is not None else "flyp"
    before = class_head(reference, start, tokenizer, classnames, texts if reference == "mmft" else None)
    views = {"before": embedding_view(start, tokenizer, Preprocessed(first.data.test, preprocess), texts, before)}
    for method, result in results.items():
        views[method] = embedding_view(result.model, result.tokenizer,
                                       Preprocessed(result.data.test, result.preprocess), texts,
                                       result.head.weight)
    return views


def separation_rows(views: Mapping[str, EmbeddingView], results: Mapping[str, RunResult]) -> list[dict]:
    """Per view (``"before"`` and each method of :func:`fine_tuning_views`): the silhouette of its test images,
    its gain over ``"before"``, and the model's test accuracy (the start model's zero-shot one for ``"before"``)."""
    first = next(iter(results.values()))
    accuracy = {"before": first.extra["zeroshot"], **{method: r.test for method, r in results.items()}}
    silhouette = {name: separation_score(view.images, view.image_labels) for name, view in views.items()}
    return [{"model": name, "silhouette": value, "silhouette_gain": value - silhouette["before"],
             "test_accuracy": accuracy[name]} for name, value in silhouette.items()]
