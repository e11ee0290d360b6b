"""One trainer for PaRe and its baselines, for every task type.

Methods (same body, data, optimiser and schedule; they differ only as stated):

* ``scratch``: the body re-initialised at random, a randomly initialised embedder.
* ``finetune``: plain cross-modal fine-tuning: srcinit embedder, pretrained body, no replacement.
* ``orca``: ORCA-style embedder alignment to the source embeddings first, then as ``finetune``.
* ``pare``: as ``finetune`` plus gated patch replacement with source images and the λ-weighted loss.

PaRe's loss, with ``out`` the prediction on target tokens and ``out_mixed`` on the mixed ones,
λ = k / N and ``c`` the mixing weight::

    loss(out, y) + c · ((1 − λ) · loss(out_mixed, y) + λ · CE(h_src(out_mixed), y_src))

``c`` defaults to 1 for classification (the authors' 2D script), 0.3 for regression and
dense outputs on images and 0.1 on 1D inputs (their dense and 1D scripts).

The replacement schedule ``k = int(begin − end · epoch / epochs)`` uses the authors' (begin,
end) as fractions of the target's N tokens: they give counts for 3136 Swin tokens, e.g.
(2000, 1500) for image classification → (0.638, 0.478) and (1000, 500) for Darcy →
(0.319, 0.159); their 1D runs use (32, 32) of 64 tokens → (0.5, 0.5). ``k`` is clamped to
``[0, min(N_source, N_target)]``. The first ``gumbel_epochs`` use the Gumbel top-k.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..runtime import bar_options, resolve_device, seed_everything
from .align import align_embedder
from .bodies import load_body
from .body import as_body
from .metrics import relative_l2_per_sample
from .model import PaReModel, build_pare_model
from .replace import GUMBEL_TAU, replace_patches, replacement_count, select_patches
from .source import SourceData, world_source
from .targets import TargetTask

METHODS = ("scratch", "finetune", "orca", "pare")
#: The authors' (begin, end) schedules, as fractions of 3136 Swin tokens (or 64 RoBERTa tokens in 1D).
AUTHOR_SCHEDULES = {"image": (2000 / 3136, 1500 / 3136), "dense": (1000 / 3136, 500 / 3136), "sequence": (0.5, 0.5)}
GATE_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class TrainConfig:
    """Hyperparameters of one run; ``None`` fields take task-dependent defaults (see :func:`resolve_config`)."""

    epochs: int = 20
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_frac: float = 0.1
    clip_grad: float = 1.0
    begin_frac: float | None = None
    end_frac: float | None = None
    gumbel_epochs: int | None = None
    tau: float = GUMBEL_TAU
    mix_weight: float | None = None
    orca_objective: str = "otdd"
    orca_steps: int = 40
    orca_lr: float = 1e-3
    select: str = "best_val"
    eval_batch_size: int = 256
    gate_log_samples: int = 128


def resolve_config(task: TargetTask, config: TrainConfig) -> TrainConfig:
    """Fill the task-dependent defaults of ``config`` (returns a copy)."""
    cfg = replace(config)
    kind = "dense" if task.task_type != "classification" else ("sequence" if task.input_kind != "image" else "image")
    begin, end = AUTHOR_SCHEDULES[kind]
    cfg.begin_frac = begin if cfg.begin_frac is None else cfg.begin_frac
    cfg.end_frac = end if cfg.end_frac is None else cfg.end_frac
    if cfg.mix_weight is None:
        cfg.mix_weight = 1.0 if task.task_type == "classification" else (0.1 if task.input_kind == "sequence" else 0.3)
    if cfg.gumbel_epochs is None:
        cfg.gumbel_epochs = max(1, round(cfg.epochs / 6))
    if cfg.select not in ("best_val", "last"):
        raise InvalidInputError(f"select must be 'best_val' or 'last'; got {cfg.select!r}")
    return cfg


@dataclass
class EpochLog:
    """What one epoch did: replacement count, λ, losses, validation metric, gate score quantiles."""

    epoch: int
    k: int
    lam: float
    gumbel: bool
    train_loss: float
    val_metric: float
    seconds: float
    gate_target: list[float] = field(default_factory=list)
    gate_source: list[float] = field(default_factory=list)


@dataclass
class RunResult:
    """The outcome of one run: test metric at the selected epoch, validation metric, history, runtime."""

    task: str
    method: str
    seed: int
    metric: str
    test: float
    val: float
    best_epoch: int
    runtime_s: float
    num_tokens: int
    history: list[EpochLog]
    align_history: list[float]
    config: dict

    def as_row(self) -> dict:
        return {"task": self.task, "method": self.method, "seed": self.seed, "metric": self.metric, "value": self.test}


class _TargetScaler:
    """Standardises regression / dense targets with training statistics; decodes predictions."""

    def __init__(self, task: TargetTask) -> None:
        self.active = task.task_type != "classification"
        y = task.y_train.float()
        self.mean = float(y.mean()) if self.active else 0.0
        self.std = float(y.std()) if self.active else 1.0

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        return out * self.std + self.mean if self.active else out

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.mean) / self.std if self.active else y


def task_loss(task: TargetTask, scaler: _TargetScaler, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The task's training loss on model outputs (standardised space for regression / dense)."""
    if task.loss == "ce":
        return F.cross_entropy(out, y)
    if task.loss == "mse":
        return F.mse_loss(out, scaler.encode(y))
    if task.loss == "rel_l2":
        return relative_l2_per_sample(scaler.decode(out), y).mean()
    raise InvalidInputError(f"unknown loss {task.loss!r}; use 'ce', 'mse' or 'rel_l2'")


def pare_loss(main: torch.Tensor, mixed: torch.Tensor, source: torch.Tensor, lam: float, weight: float) -> torch.Tensor:
    """``main + weight · ((1 − λ) · mixed + λ · source)``; weight 1 is the classification loss."""
    return main + weight * ((1.0 - lam) * mixed + lam * source)


def training_loss(
    model: PaReModel, task: TargetTask, scaler: _TargetScaler, x: torch.Tensor, y: torch.Tensor, k: int,
    differentiable: bool, cfg: TrainConfig, source_batch: tuple[torch.Tensor, torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One batch's loss: the task loss alone for ``k = 0``, else PaRe's λ-weighted loss with ``k`` replaced patches."""
    tokens = model.embed(x)
    if k == 0:
        return task_loss(task, scaler, model.predict(*model.encode(tokens)), y)
    images, labels = (t.to(x.device) for t in source_batch)
    src_tokens = model.embed_source(images)
    keep, take = select_patches(model.gate(tokens), model.gate(src_tokens), k, differentiable=differentiable,
                                tau=cfg.tau, generator=generator)
    mixed_tokens = replace_patches(tokens, src_tokens, keep, take)
    # target and mixed sequences share one pass through the body (nothing mixes across a batch)
    pooled, patches = model.encode(torch.cat([tokens, mixed_tokens]))
    out, out_mixed = model.predict(pooled, patches).split(len(x))
    src_loss = F.cross_entropy(model.source_head(pooled[len(x):]), labels)
    lam = k / tokens.shape[1]
    return pare_loss(task_loss(task, scaler, out, y), task_loss(task, scaler, out_mixed, y), src_loss, lam,
                     cfg.mix_weight)


def _optimizer(model: nn.Module, cfg: TrainConfig, steps: int):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.dim() < 2 or name.endswith("pos") or "embedding" in name else decay).append(param)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    warmup = max(1, int(cfg.warmup_frac * steps))

    def factor(step: int) -> float:
        return (step + 1) / warmup if step < warmup else max(0.0, (steps - step) / max(1, steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@torch.no_grad()
def predict(model: PaReModel, x: torch.Tensor, batch_size: int = 256,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """Model outputs for ``x`` (raw, before target decoding), in evaluation mode, on CPU."""
    model.eval()
    return torch.cat([model(x[i: i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)])


def evaluate(model: PaReModel, task: TargetTask, split: str, scaler: _TargetScaler | None = None,
             batch_size: int = 256, device: torch.device | str = "cpu") -> float:
    """The task metric (lower is better) on ``split`` ("train", "val" or "test")."""
    scaler = scaler or _TargetScaler(task)
    x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
    return task.metric(scaler.decode(predict(model, x, batch_size, device)), y)


@torch.no_grad()
def gate_scores(model: PaReModel, x: torch.Tensor, source_images: torch.Tensor | None,
                device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gate scores of every target token of ``x`` and every source token of ``source_images`` (flattened)."""
    model.eval()
    target = model.gate(model.embed(x.to(device))).flatten().cpu()
    source = None
    if source_images is not None:
        source = model.gate(model.embed_source(source_images.to(device))).flatten().cpu()
    return target, source


def _quantiles(values: torch.Tensor | None) -> list[float]:
    return [] if values is None else torch.quantile(values.float(), torch.tensor(GATE_QUANTILES)).tolist()


def fit(
    task: TargetTask, method: str = "pare", config: TrainConfig | None = None, body: str | nn.Module = "embedded",
    source: SourceData | None = None, seed: int = 0, device: str | torch.device | None = None, progress: bool = True,
) -> tuple[PaReModel, RunResult]:
    """Train ``method`` on ``task`` and evaluate on its test split; returns the model and a :class:`RunResult`.

    ``source`` defaults to 1,000 world images labelled by shape, rendered at the body's image
    size. The test metric is taken at the epoch with the best validation metric
    (``select="best_val"``) or after the last epoch (``select="last"``, as the authors do).
    """
    if method not in METHODS:
        raise InvalidInputError(f"unknown method {method!r}; choose one of {METHODS}")
    cfg = resolve_config(task, config or TrainConfig())
    device = resolve_device(device)
    started = time.perf_counter()
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    pretrained = method != "scratch"
    if isinstance(body, str):
        body = load_body(body)
    if source is None and pretrained:
        source = world_source(image_size=(as_body(body).image_size or (32, 32))[0], seed=seed)
    model = build_pare_model(task, body=body, source_images=source.images[:512] if pretrained else None,
                             source_classes=source.num_classes if source is not None else 1, pretrained=pretrained)
    model.to(device)
    align_history: list[float] = []
    if method == "orca":
        align_history = align_embedder(model, task, source, objective=cfg.orca_objective, steps=cfg.orca_steps,
                                       lr=cfg.orca_lr, seed=seed, device=device, progress=progress)
    scaler = _TargetScaler(task)
    n_train = len(task.x_train)
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    optimizer, scheduler = _optimizer(model, cfg, steps_per_epoch * cfg.epochs)
    n_tokens = model.embedder.num_tokens
    n_source = model.source_embedder.num_tokens if model.source_embedder is not None else 0
    gate_x = task.x_val[: cfg.gate_log_samples]
    gate_src = source.images[: cfg.gate_log_samples] if method == "pare" else None
    history: list[EpochLog] = []
    best = (math.inf, -1, None)
    for epoch in tqdm(range(cfg.epochs), desc=f"{task.name}/{method}/seed{seed}", leave=False, **bar_options(progress)):
        tick = time.perf_counter()
        k = 0
        if method == "pare":
            k = replacement_count(epoch, cfg.epochs, cfg.begin_frac * n_tokens, cfg.end_frac * n_tokens)
            k = min(max(k, 0), n_tokens, n_source)
        lam, gumbel = k / n_tokens, epoch < cfg.gumbel_epochs
        model.train()
        order = torch.randperm(n_train, generator=generator)
        total = 0.0
        for batch in order.split(cfg.batch_size):
            x, y = task.x_train[batch].to(device), task.y_train[batch].to(device)
            source_batch = source.sample(len(batch), generator) if k > 0 else None
            loss = training_loss(model, task, scaler, x, y, k, gumbel, cfg, source_batch, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(batch)
        val = evaluate(model, task, "val", scaler, cfg.eval_batch_size, device)
        g_tar, g_src = gate_scores(model, gate_x, gate_src, device) if method == "pare" else (None, None)
        history.append(EpochLog(epoch, k, lam, gumbel, total / n_train, val, time.perf_counter() - tick,
                                _quantiles(g_tar), _quantiles(g_src)))
        if cfg.select == "last" or val < best[0] or best[2] is None:
            best = (val, epoch, {name: t.detach().clone() for name, t in model.state_dict().items()})
    model.load_state_dict(best[2])
    test = evaluate(model, task, "test", scaler, cfg.eval_batch_size, device)
    result = RunResult(task.name, method, seed, task.metric_name, test, best[0], best[1],
                       time.perf_counter() - started, n_tokens, history, align_history, asdict(cfg))
    return model, result
