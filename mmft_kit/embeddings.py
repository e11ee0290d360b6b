"""Embedding views: a model's image, text and prototype embeddings, their 2-D projections and class separation.

Pure array functions (numpy, scikit-learn); :func:`embedding_view` encodes with a model given to it.
Views of fine-tuned runs before and after training: :func:`mmft_kit.train.inspect.fine_tuning_views`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .errors import InvalidInputError

#: Projections by name (UMAP only where umap-learn is installed).
PROJECTIONS = ("pca", "tsne", "umap")


@dataclass
class EmbeddingView:
    """L2-normalised embeddings from one model: images with labels, texts with labels, class prototypes."""

    images: np.ndarray
    image_labels: np.ndarray
    texts: np.ndarray
    text_labels: np.ndarray
    prototypes: np.ndarray


def embedding_view(model, tokenizer: Callable, images, texts_by_class: Sequence[Sequence[str]],
                   head: torch.Tensor) -> EmbeddingView:
    """Embed the (preprocessed) ``images`` data set and the texts of each class with ``model``;
    ``head`` rows are the prototypes."""
    from .inference import encode_images, encode_texts

    features, labels = encode_images(model, images)
    flat = [text for texts in texts_by_class for text in texts]
    text_labels = np.repeat(np.arange(len(texts_by_class)), [len(t) for t in texts_by_class])
    texts = encode_texts(model, tokenizer, flat).numpy() if flat else np.zeros((0, features.shape[1]), np.float32)
    return EmbeddingView(features.numpy(), labels.numpy(), texts, text_labels, head.float().cpu().numpy())


def available_projections(asked: Sequence[str]) -> list[str]:
    """``asked`` without ``umap`` when umap-learn is not installed."""
    try:
        import umap  # noqa: F401
    except ImportError:
        return [p for p in asked if p != "umap"]
    return list(asked)


def _pca(points: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(points)


def _tsne(points: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = float(min(30.0, max(2.0, (len(points) - 1) / 3)))
    # one OpenMP thread: on a busy machine more threads spin-wait and run ten times slower
    with threadpool_limits(1, user_api="openmp"):
        return TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca",
                    random_state=seed).fit_transform(points)


def _umap(points: np.ndarray, seed: int) -> np.ndarray:
    import umap

    return umap.UMAP(n_components=2, metric="cosine", random_state=seed).fit_transform(points)


_PROJECTORS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"pca": _pca, "tsne": _tsne, "umap": _umap}


def project(points: np.ndarray, projection: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of ``points`` by PCA, t-SNE (cosine) or UMAP (cosine)."""
    if len(points) < 3:
        raise InvalidInputError(f"need at least 3 points to project; got {len(points)}")
    if projection not in _PROJECTORS:
        raise InvalidInputError(f"unknown projection {projection!r}; choose one of {list(PROJECTIONS)}")
    return _PROJECTORS[projection](points, seed)


def separation_score(features: np.ndarray, labels: np.ndarray) -> float:
    """Silhouette score (cosine) of ``features`` grouped by ``labels``: −1 … 1, higher is better separated."""
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        raise InvalidInputError("a separation score needs two or more classes")
    return float(silhouette_score(features, labels, metric="cosine"))
