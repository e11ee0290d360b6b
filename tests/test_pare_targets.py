"""PaRe target tasks: the Darcy solver, tabular / signal / spherical generators, user data, metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import TensorDataset

from mmft_kit.errors import DatasetNotFoundError, InvalidInputError
from mmft_kit.pare import get_metric, get_target_task, signal_task, spherical_task, tabular_task, task_from_datasets
from mmft_kit.pare.darcy import random_coefficients, solve_darcy
from mmft_kit.pare.targets import project_to_sphere, task_from_arrays


def test_darcy_constant_coefficient_matches_poisson():
    # -Δu = 1 on the unit square: max u = 0.07367 (series solution)
    u = solve_darcy(np.ones((63, 63)))
    assert u.max() == pytest.approx(0.07367, rel=2e-3)
    assert np.allclose(u, u.T) and np.allclose(u, u[::-1])
    # a constant coefficient c scales the solution by 1/c
    np.testing.assert_allclose(solve_darcy(np.full((15, 15), 4.0)), solve_darcy(np.ones((15, 15))) / 4, rtol=1e-10)


def test_darcy_piecewise_solution_satisfies_the_discrete_equation():
    a = random_coefficients(12, 1, np.random.default_rng(0))[0]
    assert set(np.unique(a)) == {3.0, 12.0}
    u = solve_darcy(a)
    n, h = 12, 1 / 13
    up = np.pad(u, 1)  # zero boundary
    ap = np.pad(a, 1, mode="edge")
    face = lambda p, q: 2 * p * q / (p + q)  # noqa: E731
    c = ap[1:-1, 1:-1]
    flux = (face(c, ap[1:-1, 2:]) * (up[1:-1, 2:] - u) + face(c, ap[1:-1, :-2]) * (up[1:-1, :-2] - u)
            + face(c, ap[2:, 1:-1]) * (up[2:, 1:-1] - u) + face(c, ap[:-2, 1:-1]) * (up[:-2, 1:-1] - u))
    np.testing.assert_allclose(-flux / h**2, np.ones((n, n)), rtol=1e-8)
    assert (u > 0).all()


def test_darcy_task_splits_and_hints():
    task = get_target_task("darcy", n_train=20, n_val=5, n_test=5, grid=12, progress=False)
    assert task.task_type == "dense" and task.x_train.shape == (20, 1, 12, 12) and task.y_test.shape == (5, 12, 12)
    assert abs(float(task.x_train.mean())) < 1e-4 and float(task.x_train.std()) == pytest.approx(1, rel=0.05)
    assert task.metric_name == "relative_l2" and task.extra["patch_size"] == 4
    assert task.metric(task.y_test, task.y_test) == 0.0


@pytest.mark.parametrize("name,classes,features", [("wdbc", 2, 30), ("iris", 3, 4), ("wine", 3, 13)])
def test_tabular_tasks(name, classes, features):
    task = tabular_task(name)
    assert task.num_outputs == classes and task.x_train.shape[1] == features
    total = len(task.x_train) + len(task.x_val) + len(task.x_test)
    assert len(task.x_test) == pytest.approx(0.2 * total, abs=1)
    assert len(task.x_val) == pytest.approx(0.2 * total, abs=2)
    torch.testing.assert_close(task.x_train.mean(0), torch.zeros(features), atol=1e-5, rtol=0)
    assert set(task.y_test.tolist()) == set(range(classes))  # stratified
    assert task.metric_name == "1-auroc"
    assert task.extra["openml_id"] == {"wdbc": 1510, "iris": 61, "wine": 187}[name]


def test_signal_task_is_learnable_but_not_trivial():
    task = signal_task(n_train=300, n_val=50, n_test=300)
    assert task.x_train.shape == (300, 8, 128) and task.num_outputs == 6
    from sklearn.linear_model import LogisticRegression

    energy = lambda x: np.log((x.numpy() ** 2).mean(axis=2))  # noqa: E731
    clf = LogisticRegression(max_iter=2000).fit(energy(task.x_train), task.y_train.numpy())
    acc = clf.score(energy(task.x_test), task.y_test.numpy())
    assert 0.6 < acc < 0.95  # log-energies alone: well above chance (1/6), far from perfect


def test_spherical_projection():
    image = np.full((32, 32, 3), 200, dtype=np.uint8)
    out = project_to_sphere(image, np.eye(3), 24)
    assert out.shape == (24, 24, 3)
    filled = (out[..., 0] > 0).mean()
    assert 0.2 < filled < 0.8  # the image covers part of the upper hemisphere only
    assert out[-1].max() == 200 and out[0].max() == 0  # north pole row lit, south pole dark
    task = spherical_task(per_class=(3, 1, 2), size=16)
    assert task.x_train.shape == (24, 3, 16, 16) and task.num_outputs == 8


def test_user_arrays_and_datasets():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(50, 5, generator=g), torch.randint(0, 3, (50,), generator=g)
    task = task_from_arrays(x[:40].numpy(), y[:40].numpy(), x[40:], y[40:], "classification")
    assert len(task.x_val) == 4 and len(task.x_train) == 36 and task.num_outputs == 3
    ds = task_from_datasets(TensorDataset(x[:40], y[:40].float()), TensorDataset(x[40:], y[40:].float()), "regression",
                            val=TensorDataset(x[:5], y[:5].float()), metric="rmse")
    assert ds.task_type == "regression" and len(ds.x_val) == 5 and ds.loss == "mse"
    with pytest.raises(InvalidInputError):
        task_from_arrays(x, y, x, y, "segmentation")
    with pytest.raises(DatasetNotFoundError):
        get_target_task("cifar-1000")


def test_metrics():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.5], [0.0, 3.0]])
    y = torch.tensor([0, 1, 1, 1])
    assert get_metric("1-accuracy")(logits, y) == pytest.approx(0.25)
    p = torch.softmax(logits, 1)[:, 1].numpy()
    assert get_metric("1-auroc")(logits, y) == pytest.approx(1 - roc_auc_score(y.numpy(), p))
    multi = torch.randn(30, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(30) % 3
    expected = 1 - roc_auc_score(labels.numpy(), torch.softmax(multi, 1).numpy(), multi_class="ovr", average="macro")
    assert get_metric("1-auroc")(multi, labels) == pytest.approx(expected)
    pred, truth = torch.ones(2, 3, 3), torch.full((2, 3, 3), 2.0)
    assert get_metric("relative_l2")(pred, truth) == pytest.approx(0.5)
    with pytest.raises(InvalidInputError):
        get_metric("accuracy")
