"""ORCA-style embedder alignment (Shen et al., ICML 2023): the baseline PaRe is compared with.

Before fine-tuning, only the target embedder is trained to bring the distribution of its
mean-pooled target embeddings close to that of the pretrained patch embedding's mean-pooled
source embeddings, measured by

* ``"otdd"``: an optimal-transport dataset distance (Alvarez-Melis & Fusi): exact OT between
  labelled samples with ground cost ``‖x − x'‖² + W₂²(class of x, class of x')``, where the
  label-to-label term is the exact W₂² between the class-conditional feature sets (POT's
  ``emd2``, differentiable through its torch backend). ORCA's library debiases and
  entropically smooths the outer problem; this "lite" version keeps both problems exact.
* ``"mmd"``: ORCA's multi-bandwidth Gaussian MMD between each target class and a source
  sample of the same size, weighted by class frequency.

Tasks without classes (regression, dense) are given k-means pseudo-classes of their targets,
as ORCA does.
"""

from __future__ import annotations

import ot
import torch
from sklearn.cluster import KMeans
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from .model import PaReModel
from .source import SourceData


def mmd(x: torch.Tensor, y: torch.Tensor, kernel_mul: float = 2.0, kernel_num: int = 5) -> torch.Tensor:
    """Biased MMD² with a sum of Gaussian kernels whose bandwidths centre on the mean squared distance."""
    total = torch.cat([x, y])
    d2 = torch.cdist(total, total) ** 2
    n = len(total)
    bandwidth = d2.detach().sum() / (n * n - n) / kernel_mul ** (kernel_num // 2)
    kernel = sum(torch.exp(-d2 / (bandwidth * kernel_mul**i)) for i in range(kernel_num))
    m = len(x)
    return kernel[:m, :m].mean() + kernel[m:, m:].mean() - 2 * kernel[:m, m:].mean()


def _w2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    weights_a = torch.full((len(a),), 1.0 / len(a), dtype=a.dtype, device=a.device)
    weights_b = torch.full((len(b),), 1.0 / len(b), dtype=b.dtype, device=b.device)
    return ot.emd2(weights_a, weights_b, torch.cdist(a, b) ** 2)


def otdd(x_target: torch.Tensor, y_target: torch.Tensor, x_source: torch.Tensor,
         y_source: torch.Tensor) -> torch.Tensor:
    """Exact optimal-transport dataset distance (squared, p = 2) between two labelled sets of features."""
    t_classes, s_classes = torch.unique(y_target), torch.unique(y_source)
    label_cost = torch.stack([
        torch.stack([_w2(x_source[y_source == s], x_target[y_target == t]) for t in t_classes]) for s in s_classes
    ])
    s_pos = torch.searchsorted(s_classes, y_source)
    t_pos = torch.searchsorted(t_classes, y_target)
    cost = torch.cdist(x_source, x_target) ** 2 + label_cost[s_pos][:, t_pos]
    return _w2_from_cost(cost)


def _w2_from_cost(cost: torch.Tensor) -> torch.Tensor:
    n, m = cost.shape
    return ot.emd2(torch.full((n,), 1.0 / n, dtype=cost.dtype, device=cost.device),
                   torch.full((m,), 1.0 / m, dtype=cost.dtype, device=cost.device), cost)


def class_labels(task, k: int = 10, seed: int = 0) -> torch.Tensor:
    """Training labels for alignment: the classes, or k-means clusters of the targets (ORCA's infer_label)."""
    if task.task_type == "classification":
        return task.y_train.long()
    flat = task.y_train.reshape(len(task.y_train), -1).float().numpy()
    k = min(k, len(flat))
    return torch.as_tensor(KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(flat), dtype=torch.long)


def _mean_tokens(tokens: torch.Tensor) -> torch.Tensor:
    return tokens.mean(dim=1)


def align_embedder(
    model: PaReModel, task, source: SourceData, objective: str = "otdd", steps: int = 40, lr: float = 1e-3,
    max_target: int = 256, max_source: int = 500, batch_size: int = 128, seed: int = 0,
    device: torch.device | str = "cpu", progress: bool = True,
) -> list[float]:
    """Train ``model.embedder`` alone to minimise its distance to the source embeddings.

    Returns the distance at every step.
    """
    if objective not in ("otdd", "mmd"):
        raise InvalidInputError(f"objective must be 'otdd' or 'mmd'; got {objective!r}")
    generator = torch.Generator().manual_seed(seed)
    src_index = torch.randperm(len(source), generator=generator)[:max_source]
    with torch.no_grad():
        src_feats = torch.cat([
            _mean_tokens(model.embed_source(source.images[chunk].to(device))) for chunk in src_index.split(batch_size)
        ])
    src_labels = source.labels[src_index].to(device)
    labels = class_labels(task, seed=seed)
    optimizer = torch.optim.AdamW(model.embedder.parameters(), lr=lr, weight_decay=0.0)
    history: list[float] = []
    model.train()
    for _ in tqdm(range(steps), desc="ORCA embedder alignment", disable=not progress, leave=False):
        pick = torch.randperm(len(task.x_train), generator=generator)[:max_target]
        x, y = task.x_train[pick].to(device), labels[pick].to(device)
        feats = _mean_tokens(model.embed(x))
        if objective == "otdd":
            loss = otdd(feats, y, src_feats, src_labels)
        else:
            loss = feats.new_zeros(())
            for c in torch.unique(y):
                members = feats[y == c]
                if len(members) < 2:
                    continue
                drawn = torch.randint(len(src_feats), (len(members),), generator=generator).to(device)
                loss = loss + (len(members) / len(y)) * mmd(members, src_feats[drawn])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
    return history
