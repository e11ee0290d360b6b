"""Embedding views: projections to 2-D and class separation, on synthetic clusters."""

from __future__ import annotations

import numpy as np
import pytest

from mmft_kit.embeddings import available_projections, project, separation_score
from mmft_kit.errors import InvalidInputError


def clusters(separated: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 8) * (5.0 if separated else 0.0)
    labels = np.repeat(np.arange(3), 20)
    points = centres[labels] + rng.normal(size=(60, 8))
    return points / np.linalg.norm(points, axis=1, keepdims=True), labels


def test_separation_score_tells_separated_from_mixed_classes():
    assert separation_score(*clusters(True)) > 0.5
    assert abs(separation_score(*clusters(False))) < 0.1
    with pytest.raises(InvalidInputError):
        separation_score(np.ones((4, 2)), np.zeros(4))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_project_gives_two_coordinates_per_point(method):
    points, _ = clusters(True)
    assert project(points, method).shape == (60, 2)


def test_project_rejects_unknown_methods_and_umap_is_optional():
    with pytest.raises(InvalidInputError):
        project(np.ones((5, 3)), "mds")
    assert set(available_projections(["pca", "umap"])) <= {"pca", "umap"}
    assert "pca" in available_projections(["pca", "umap"])
