"""The gate view: which target slots and source patches a trained gate picks for k replacements."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmft_kit import viz
from mmft_kit.pare.inspect import gate_view


@pytest.fixture(scope="module")
def pare_model():
    from mmft_kit.pare import build_pare_model, task_from_arrays, tiny_vit, world_source

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3, 16, 16)).astype(np.float32), rng.integers(0, 2, 40)
    task = task_from_arrays(x[:30], y[:30], x[30:], y[30:], "classification")
    source = world_source(count=16, image_size=32)
    model = build_pare_model(task, body=tiny_vit(width=32, layers=1), source_images=source.images,
                             source_classes=source.num_classes)
    return model, task, source


def test_gate_view_marks_k_slots_and_k_patches(pare_model):
    model, task, source = pare_model
    view = gate_view(model, task, source, k=5, count=3)
    assert view.k == 5 and view.targets.shape[0] == 3
    assert view.replaced.sum(dim=1).tolist() == [5, 5, 5] and view.taken.sum(dim=1).tolist() == [5, 5, 5]
    for i in range(3):  # the replaced target slots are the lowest scored, the taken source patches the highest
        replaced = view.target_scores[i][view.replaced[i] > 0.5]
        kept = view.target_scores[i][view.replaced[i] < 0.5]
        assert replaced.max() <= kept.min()
    assert gate_view(model, task, source, k=10_000).k == min(model.embedder.num_tokens,
                                                                 model.source_embedder.num_tokens)
    figure = viz.gate_figure(view)
    outlined = sum(len(ax.patches) for ax in figure.axes)
    assert outlined == 2 * 3 * 5
