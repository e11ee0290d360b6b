"""Cross-modal target tasks: tabular (OpenML-CC18 members shipped with scikit-learn), Darcy flow,
synthetic multichannel signals, spherical world images, and the user's own arrays or data sets.

Every task is a :class:`TargetTask`: train / val / test tensors, a task type
("classification", "regression", "dense"), a training loss and a lower-is-better metric.
Everything is generated or shipped; nothing is downloaded. Inputs are standardised with
statistics of the training split only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset

from ..errors import DatasetNotFoundError, InvalidInputError
from .darcy import darcy_dataset
from .metrics import get_metric

#: Loss used for each task type unless a task names another.
DEFAULT_LOSS = {"classification": "ce", "regression": "mse", "dense": "rel_l2"}
#: Metric used for each task type unless a task names another.
DEFAULT_METRIC = {"classification": "1-accuracy", "regression": "rmse", "dense": "relative_l2"}


@dataclass
class TargetTask:
    """A target task: tensors per split, task type, loss and metric (lower is better)."""

    name: str
    task_type: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    metric_name: str
    loss: str
    num_outputs: int
    description: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task_type not in DEFAULT_LOSS:
            raise InvalidInputError(f"task_type must be one of {sorted(DEFAULT_LOSS)}; got {self.task_type!r}")
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y) or len(x) == 0:
                raise InvalidInputError(f"{split} split: {len(x)} inputs and {len(y)} targets (need equal, non-zero)")
            if x.shape[1:] != self.x_train.shape[1:]:
                raise InvalidInputError(
                    f"{split} inputs have shape {tuple(x.shape[1:])}, train {tuple(self.x_train.shape[1:])}")
        get_metric(self.metric_name)

    @property
    def metric(self) -> Callable[[torch.Tensor, torch.Tensor], float]:
        return get_metric(self.metric_name)

    @property
    def input_kind(self) -> str:
        """``"image"`` (C, H, W), ``"sequence"`` (C, L) or ``"tabular"`` (F,)."""
        return {3: "image", 2: "sequence", 1: "tabular"}[self.x_train.dim() - 1]

    def __repr__(self) -> str:
        return (f"TargetTask({self.name!r}, {self.task_type}, x {tuple(self.x_train.shape[1:])}, "
                f"n = {len(self.x_train)}/{len(self.x_val)}/{len(self.x_test)}, metric {self.metric_name})")


def _standardise(train: np.ndarray, *others: np.ndarray, axis: tuple[int, ...] | int = 0) -> list[torch.Tensor]:
    mean = train.mean(axis=axis, keepdims=True)
    std = train.std(axis=axis, keepdims=True) + 1e-6
    return [torch.as_tensor((a - mean) / std, dtype=torch.float32) for a in (train, *others)]


def _three_way(x: np.ndarray, y: np.ndarray, fractions: tuple[float, float, float], seed: int, stratify: bool):
    n_test = fractions[2] / sum(fractions)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=n_test, random_state=seed,
                                                      stratify=y if stratify else None)
    n_val = fractions[1] / (fractions[0] + fractions[1])
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=n_val, random_state=seed + 1,
                                                      stratify=y_rest if stratify else None)
    return x_train, y_train, x_val, y_val, x_test, y_test


#: Tabular tasks: name → (scikit-learn loader, OpenML id, description).
TABULAR = {
    "wdbc": ("load_breast_cancer", 1510, "Wisconsin diagnostic breast cancer, 30 features, 2 classes"),
    "iris": ("load_iris", 61, "iris, 4 features, 3 classes"),
    "wine": ("load_wine", 187, "wine recognition, 13 features, 3 classes"),
}


def tabular_task(name: str = "wdbc", seed: int = 0) -> TargetTask:
    """An OpenML-CC18-style tabular task shipped with scikit-learn; metric 1 − AUROC (macro OvR)."""
    if name not in TABULAR:
        raise DatasetNotFoundError(f"unknown tabular task {name!r}; choose one of {sorted(TABULAR)}")
    import sklearn.datasets

    loader, openml_id, description = TABULAR[name]
    data = getattr(sklearn.datasets, loader)()
    x, y = data.data.astype(np.float64), data.target.astype(np.int64)
    x_tr, y_tr, x_va, y_va, x_te, y_te = _three_way(x, y, (0.6, 0.2, 0.2), seed, stratify=True)
    x_tr, x_va, x_te = _standardise(x_tr, x_va, x_te)
    return TargetTask(name, "classification", x_tr, torch.as_tensor(y_tr), x_va, torch.as_tensor(y_va), x_te,
                      torch.as_tensor(y_te), "1-auroc", "ce", int(y.max() + 1),
                      f"{description} (OpenML {openml_id})", {"openml_id": openml_id})


def darcy_task(n_train: int = 700, n_val: int = 100, n_test: int = 200, grid: int = 24, seed: int = 0,
               patch_size: int = 4, progress: bool = True) -> TargetTask:
    """Darcy flow: coefficient field ``a`` (1, n, n) → solution ``u`` (n, n); metric relative L2.

    ``patch_size`` is a hint for the embedder (4 → 36 tokens on the default 24 × 24 grid).
    """
    a, u = darcy_dataset(n_train + n_val + n_test, n=grid, seed=seed, progress=progress)
    a = a[:, None]
    cut = (n_train, n_train + n_val)
    x_tr, x_va, x_te = _standardise(a[: cut[0]], a[cut[0]: cut[1]], a[cut[1]:], axis=(0, 2, 3))
    ys = [torch.as_tensor(part) for part in (u[: cut[0]], u[cut[0]: cut[1]], u[cut[1]:])]
    return TargetTask("darcy", "dense", x_tr, ys[0], x_va, ys[1], x_te, ys[2], "relative_l2", "rel_l2", 1,
                      f"Darcy flow -div(a grad u) = 1 on a {grid}x{grid} grid, piecewise-constant a in {{3, 12}}",
                      {"patch_size": patch_size})


def synthetic_signals(count: int, channels: int = 8, length: int = 128, classes: int = 6, seed: int = 0,
                      pattern_seed: int = 1234, sparsity: float = 1.5, gain_jitter: float = 0.7,
                      noise: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Class-conditional multichannel signals in the spirit of sEMG gesture windows (NinaPro).

    A class is a pattern of channel activations and a spectral colour (AR(1) coefficient) of
    the carrier noise, shifted in time by a class-specific burst envelope. Each window draws
    its effort (global gain), per-channel gain jitter, burst onset, crosstalk between
    neighbouring channels and sensor noise, so classes overlap. Larger ``sparsity`` (the gamma
    shape of the activation patterns) makes patterns more alike; ``gain_jitter`` (log-normal
    sigma per channel) and ``noise`` (sensor noise level) blur them further.
    """
    patterns = np.random.default_rng(pattern_seed)
    activation = patterns.gamma(sparsity, 1.0, size=(classes, channels))
    activation /= activation.max(axis=1, keepdims=True)
    rho = np.linspace(0.2, 0.85, classes)[patterns.permutation(classes)]
    centre = patterns.uniform(0.3, 0.7, size=classes)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=count)
    t = np.arange(length) / length
    x = np.empty((count, channels, length), dtype=np.float32)
    for i, k in enumerate(labels):
        white = rng.standard_normal((channels, length))
        carrier = np.empty_like(white)
        carrier[:, 0] = white[:, 0]
        for step in range(1, length):
            carrier[:, step] = rho[k] * carrier[:, step - 1] + np.sqrt(1 - rho[k] ** 2) * white[:, step]
        onset = centre[k] + rng.normal(0, 0.12)
        envelope = np.exp(-0.5 * ((t - onset) / rng.uniform(0.12, 0.25)) ** 2)
        gain = activation[k] * rng.lognormal(0, gain_jitter, size=channels) * rng.lognormal(0, 0.3)
        signal = gain[:, None] * envelope[None] * carrier
        signal = signal + 0.35 * (np.roll(signal, 1, axis=0) + np.roll(signal, -1, axis=0))
        x[i] = signal + noise * rng.standard_normal((channels, length))
    return x, labels.astype(np.int64)


def signal_task(n_train: int = 600, n_val: int = 200, n_test: int = 400, seed: int = 0, **kwargs) -> TargetTask:
    """The 1D signal task: 8 channels × 128 samples, 6 classes; metric 1 − accuracy."""
    x, y = synthetic_signals(n_train + n_val + n_test, seed=seed, **kwargs)
    cut = (n_train, n_train + n_val)
    x_tr, x_va, x_te = _standardise(x[: cut[0]], x[cut[0]: cut[1]], x[cut[1]:], axis=(0, 2))
    ys = [torch.as_tensor(part) for part in (y[: cut[0]], y[cut[0]: cut[1]], y[cut[1]:])]
    return TargetTask("signals", "classification", x_tr, ys[0], x_va, ys[1], x_te, ys[2], "1-accuracy", "ce",
                      int(y.max() + 1), "synthetic 8-channel sEMG-like gesture windows, 6 classes")


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def project_to_sphere(image: np.ndarray, rotation: np.ndarray, size: int) -> np.ndarray:
    """Stereographically map a planar image onto the upper hemisphere, rotate the sphere, and
    sample it on a ``size × size`` equiangular (latitude, longitude) grid (Spherical MNIST/CIFAR style)."""
    lat = (np.arange(size) + 0.5) / size * np.pi - np.pi / 2
    lon = (np.arange(size) + 0.5) / size * 2 * np.pi - np.pi
    lat, lon = np.meshgrid(lat, lon, indexing="ij")
    v = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
    u = v @ rotation  # rotate the grid back into the image's frame
    with np.errstate(divide="ignore", invalid="ignore"):
        px, py = u[..., 0] / (1 + u[..., 2]), u[..., 1] / (1 + u[..., 2])
    h, w = image.shape[:2]
    col = np.round((px + 1) / 2 * (w - 1)).astype(int)
    row = np.round((py + 1) / 2 * (h - 1)).astype(int)
    inside = (u[..., 2] > 0) & (np.abs(px) <= 1) & (np.abs(py) <= 1)
    out = np.zeros((size, size, image.shape[2]), dtype=image.dtype)
    out[inside] = image[row[inside], col[inside]]
    return out


def spherical_task(world_task: str = "glyphs", per_class: tuple[int, int, int] = (60, 20, 40), size: int = 24,
                   seed: int = 0, mean: Sequence[float] | None = None,
                   std: Sequence[float] | None = None) -> TargetTask:
    """World images projected onto the sphere at random rotations (Spherical-CIFAR style); 1 − accuracy.

    ``mean`` / ``std`` normalise RGB like the body's image preprocessing (OpenAI CLIP's by default).
    """
    from ..data.tasks import make_world_task
    from .source import OPENAI_MEAN, OPENAI_STD

    mean = np.asarray(mean or OPENAI_MEAN, dtype=np.float32)[:, None, None]
    std = np.asarray(std or OPENAI_STD, dtype=np.float32)[:, None, None]
    rng = np.random.default_rng(seed + 7919)
    splits = []
    for split, count in zip(("train", "val", "test"), per_class):
        data = make_world_task(world_task, split, image_size=32, seed=seed, per_class=count)
        sphere = np.stack([project_to_sphere(img, _random_rotation(rng), size) for img in data.images])
        x = (sphere.transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - mean) / std
        splits += [torch.as_tensor(x), torch.as_tensor(np.asarray(data.targets))]
        classes = len(data.classnames)
    return TargetTask(f"spherical_{world_task}", "classification", *splits, "1-accuracy", "ce", classes,
                      f"world '{world_task}' images on the sphere, {size}x{size} equiangular grid")


def task_from_arrays(
    x_train, y_train, x_test, y_test, task_type: str, x_val=None, y_val=None, metric: str | None = None,
    name: str = "custom", val_fraction: float = 0.1, seed: int = 0,
) -> TargetTask:
    """A task from the user's arrays (NumPy or torch). Without a validation split, ``val_fraction``
    of the training data is held out. Inputs are used as given (standardise them beforehand)."""
    x_train, y_train = torch.as_tensor(np.asarray(x_train)), torch.as_tensor(np.asarray(y_train))
    x_test, y_test = torch.as_tensor(np.asarray(x_test)), torch.as_tensor(np.asarray(y_test))
    if task_type not in DEFAULT_LOSS:
        raise InvalidInputError(f"task_type must be one of {sorted(DEFAULT_LOSS)}; got {task_type!r}")
    if x_val is None:
        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed))
        n_val = max(1, int(round(val_fraction * len(x_train))))
        x_val, y_val = x_train[order[:n_val]], y_train[order[:n_val]]
        x_train, y_train = x_train[order[n_val:]], y_train[order[n_val:]]
    else:
        x_val, y_val = torch.as_tensor(np.asarray(x_val)), torch.as_tensor(np.asarray(y_val))
    if task_type == "classification":
        y_train, y_val, y_test = (y.long() for y in (y_train, y_val, y_test))
        num_outputs = int(max(y_train.max(), y_val.max(), y_test.max()) + 1)
    else:
        y_train, y_val, y_test = (y.float() for y in (y_train, y_val, y_test))
        num_outputs = 1 if y_train.dim() == 1 else int(np.prod(y_train.shape[1:]))
    xs = [x.float() for x in (x_train, x_val, x_test)]
    return TargetTask(name, task_type, xs[0], y_train, xs[1], y_val, xs[2], y_test,
                      metric or DEFAULT_METRIC[task_type], DEFAULT_LOSS[task_type], num_outputs)


def _stack(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(dataset[i][:2] for i in range(len(dataset))))
    return torch.stack([torch.as_tensor(x) for x in xs]), torch.as_tensor(np.asarray(ys))


def task_from_datasets(train: Dataset, test: Dataset, task_type: str, val: Dataset | None = None,
                       **kwargs) -> TargetTask:
    """A task from torch Datasets yielding ``(x, y)`` pairs (see :func:`task_from_arrays`)."""
    x_tr, y_tr = _stack(train)
    x_te, y_te = _stack(test)
    x_va, y_va = _stack(val) if val is not None else (None, None)
    return task_from_arrays(x_tr, y_tr, x_te, y_te, task_type, x_val=x_va, y_val=y_va, **kwargs)


#: Built-in task builders by name.
TASKS: dict[str, Callable[..., TargetTask]] = {
    "wdbc": lambda **kw: tabular_task("wdbc", **kw),
    "iris": lambda **kw: tabular_task("iris", **kw),
    "wine": lambda **kw: tabular_task("wine", **kw),
    "darcy": darcy_task,
    "signals": signal_task,
    "spherical": spherical_task,
}


def check_task_name(name: str) -> None:
    """Raise DatasetNotFoundError unless ``name`` is a built-in task (see :data:`TASKS`); builds nothing."""
    if name not in TASKS:
        raise DatasetNotFoundError(f"unknown PaRe target task {name!r}; built-in tasks are {sorted(TASKS)}")


def get_target_task(name: str, **kwargs) -> TargetTask:
    """Build a built-in task by name (see :data:`TASKS`)."""
    check_task_name(name)
    return TASKS[name](**kwargs)
