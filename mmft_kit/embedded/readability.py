"""What a CLIP's frozen image features can read of each world attribute, and what its text tower names.

A task is only as learnable from frozen features as the attributes its classes are made of are
readable there, and zero-shot only as good as the text tower names them. This measures both on
fresh world images: a linear probe per attribute (logistic regression, cross-validated) and the
attribute's zero-shot accuracy (:func:`~mmft_kit.embedded.clip.attribute_zero_shot`), each beside chance.
Beside them, the share of the features' variance each attribute explains (:func:`variance_share`): a
cache of few-shot features (Tip-Adapter) compares images by cosine similarity, so it can only use an
attribute that is a large part of what makes two images' features differ, not merely readable.
It is how the world's calibration is diagnosed (``benchmarks/clip_readability.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from ..data.world import ATTRIBUTES, render, sample_attributes
from .clip import attribute_zero_shot, images_to_tensor


#: Attributes an image shows only under a condition: a pattern's period needs a pattern.
_VISIBLE = {"period": lambda a: a.fill != "solid"}


@torch.no_grad()
def attribute_readability(model, tokenizer, n_images: int = 2000, seed: int = 7, image_size: int = 32,
                          folds: int = 3) -> dict[str, dict[str, float]]:
    """``{attribute: {"probe", "variance", "zero_shot", "chance"}}`` for a CLIP (open_clip model and tokenizer).

    ``probe`` is the ``folds``-fold cross-validated accuracy of a logistic regression on the normalised
    image features of ``n_images`` fresh, uncluttered world images (seed ``seed``; for the period, those with
    a pattern); ``variance`` its :func:`variance_share` on those images; ``zero_shot`` is the accuracy of the
    attribute's text prompts on other fresh images.
    """
    device = next(model.parameters()).device
    model.eval()
    rng = np.random.default_rng(seed)
    attrs = [sample_attributes(rng, clutter="clean") for _ in range(n_images)]
    images = images_to_tensor(np.stack([render(a, size=image_size, rng=rng) for a in attrs]))
    features = torch.cat([model.encode_image(batch.to(device)).cpu() for batch in images.split(256)])
    features = torch.nn.functional.normalize(features, dim=-1).numpy()
    zero_shot = attribute_zero_shot(model, tokenizer, image_size=image_size, device=device)
    report = {}
    for name, values in ATTRIBUTES.items():
        if name == "clutter":
            continue  # every probe image is clean
        seen = np.array([_VISIBLE.get(name, lambda a: True)(a) for a in attrs])
        truth = np.array([values.index(getattr(a, name)) for a in attrs])
        probe = LogisticRegression(max_iter=3000, C=10.0)
        accuracy = float(cross_val_score(probe, features[seen], truth[seen], cv=folds).mean())
        report[name] = {"probe": accuracy, "variance": variance_share(features[seen], truth[seen]),
                        "zero_shot": zero_shot[name]["accuracy"], "chance": 1.0 / len(values)}
    return report


def variance_share(features: np.ndarray, labels: np.ndarray) -> float:
    """The share of the features' total variance that lies between the groups of ``labels`` (the R² of the
    features regressed on the label's one-hot code)."""
    centred = features - features.mean(0)
    between = sum((labels == v).sum() * np.square(centred[labels == v].mean(0)).sum() for v in np.unique(labels))
    return float(between / np.square(centred).sum())
