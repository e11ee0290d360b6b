"""One trainer for PaRe and its baselines, for every task type.

Methods (same body, data, optimiser, schedule and batch order for a seed; they differ only as stated):

* ``scratch``: the body re-initialised at random, a randomly initialised embedder.
* ``finetune``: plain cross-modal fine-tuning: srcinit embedder, pretrained body, no replacement.
* ``orca``: ORCA-style embedder alignment to the source embeddings first, then as ``finetune``.
* ``pare``: as ``finetune`` plus gated patch replacement with source images and the λ-weighted loss.
* ``pare_random_gate``: as ``pare`` with the gate frozen at its random initialisation. After the Gumbel
  epochs its top-k is a fixed, content-dependent selector, not a uniform one.
* ``pare_uniform``: as ``pare`` with uniformly random slots and source patches in every batch (the gate
  unused): the control that tells what choosing by the gate adds.

PaRe's loss, with ``out`` the prediction on target tokens, ``out_mixed`` on the mixed ones, ``k``
replaced slots of the target's ``N`` and the source's ``M`` tokens, and ``c`` the mixing weight::

    loss(out, y) + c · ((1 − k/N) · loss(out_mixed, y) + (k/M) · source_loss(out_mixed, y_src))

The authors resize source and target to one size, so ``M = N`` and both weights are their λ = k/N;
here ``k/M`` is the share of the source sample present in the mixed input, so a 4-token tabular
target does not ask for a 64-patch image's class from one patch at full weight. ``source_loss`` is
CE of the source head on the pooled token, or, for dense tasks with source masks, BCE of the dense
prediction in the replaced slots against the source patches' object mask (the authors' dense
objective). ``c``, the (begin, end) schedule and the source objective per task kind are the
authors' (:mod:`mmft_kit.pare.config`).

The replacement schedule ``k = int(begin − end · epoch / epochs)`` uses the authors' (begin,
end) as fractions of the target's N tokens; ``k`` is clamped to ``[0, min(M, N)]``. The first
``gumbel_frac`` of epochs use the Gumbel top-k and train the gate, by the authors' rule or the
relaxed replacement (``gate_signal``); later epochs use a plain top-k. What the Gumbel top-k ranks
(``gumbel_input``) and where source patches go (``placement``) are options (:mod:`mmft_kit.pare.config`).

Every result records the body it started from (``extra["body"]``: name, recipe hash, weights checksum,
:mod:`mmft_kit.pare.provenance`) and its manipulation checks (``extra["checks"]``,
:func:`~mmft_kit.pare.diagnostics.manipulation_checks`).

Random streams: a seed fixes the initialisation, the batch order (one generator) and the source
draws and Gumbel noise (another), so every method sees the same batches for a seed and results
pair up by seed.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..optim import decay_groups, make_scheduler
from ..records import EpochRecord, RunResult, save_record
from ..run_logs import RunLogger
from ..runtime import bar_options, resolve_device, seed_everything
from .align import align_embedder
from .bodies import load_body
from .body import as_body
from .config import PareConfig, resolve_config
from .diagnostics import Chooser, GateMonitor, manipulation_checks
from .mechanism import informative_mask
from .metrics import relative_l2_per_sample
from .model import PaReModel, build_pare_model, source_image_size
from .provenance import body_record
from .replace import relaxed_replace, replace_patches, replacement_count, select_patches
from .source import SourceData, world_source
from .targets import TargetTask, get_target_task


@dataclass(frozen=True)
class Recipe:
    """How one PaRe-family method differs from plain fine-tuning.

    Args:
        pretrained: starts from the pretrained body (else re-initialised at random, and no source data).
        aligns: aligns the target embedder to the source embeddings first (ORCA).
        mixes: feeds the body mixed inputs (gated patch replacement).
        gate_learns: the gate is trained (else frozen at its random initialisation).
        selection: the gate chooses the slots and source patches, or they are drawn uniformly at random.
    """

    pretrained: bool = True
    aligns: bool = False
    mixes: bool = False
    gate_learns: bool = True
    selection: Literal["gate", "uniform"] = "gate"


#: The PaRe-family methods' recipes by method name.
RECIPES: dict[str, Recipe] = {
    "scratch": Recipe(pretrained=False),
    "finetune": Recipe(),
    "orca": Recipe(aligns=True),
    "pare": Recipe(mixes=True),
    "pare_random_gate": Recipe(mixes=True, gate_learns=False),
    "pare_uniform": Recipe(mixes=True, gate_learns=False, selection="uniform"),
}
METHODS = tuple(RECIPES)
#: Methods that feed the body mixed inputs.
MIXING = tuple(name for name, recipe in RECIPES.items() if recipe.mixes)
#: Parameter-name fragments left out of weight decay beside open_clip's (positions, embeddings).
NO_DECAY_EXTRA = ("pos", "embedding")


def random_streams(seed: int) -> dict[str, torch.Generator]:
    """Independent CPU generators for a seed: ``"order"`` (batch order) and ``"mix"`` (source draws, Gumbel noise)."""
    states = np.random.SeedSequence(seed).spawn(2)
    return {name: torch.Generator().manual_seed(int(state.generate_state(1, np.uint64)[0] >> 1))
            for name, state in zip(("order", "mix"), states)}


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


def pare_loss(main: torch.Tensor, mixed: torch.Tensor, source: torch.Tensor, lam: float, weight: float,
              source_share: float | None = None) -> torch.Tensor:
    """``main + weight · ((1 − λ) · mixed + share · source)``; ``share`` (the share of the source present)
    defaults to λ, the authors' loss where source and target have equally many tokens."""
    share = lam if source_share is None else source_share
    return main + weight * ((1.0 - lam) * mixed + share * source)


def mask_tokens(masks: torch.Tensor, source_patch: tuple[int, int], target_patch: tuple[int, int]) -> torch.Tensor:
    """Object masks ``(B, H, W)`` → per source patch values ``(B, M, ph · pw)`` at the target's patch shape."""
    sh, sw = source_patch
    patches = masks.unfold(1, sh, sh).unfold(2, sw, sw)  # (B, gh, gw, sh, sw)
    b, gh, gw = patches.shape[:3]
    patches = patches.reshape(b * gh * gw, 1, sh, sw)
    if (sh, sw) != tuple(target_patch):
        patches = F.interpolate(patches, size=tuple(target_patch), mode="area")
    return patches.reshape(b, gh * gw, -1)


def _mask_loss(model: PaReModel, patches: torch.Tensor, masks: torch.Tensor, keep: torch.Tensor,
               take: torch.Tensor) -> torch.Tensor:
    """BCE of the dense head's first channel in the replaced slots against the written source patches' mask."""
    target_patch = tuple(getattr(model.embedder, "patch_size", (model.embedder.patch_values,)))
    if len(target_patch) != 2:
        raise InvalidInputError("the mask source objective needs a 2D target embedder")
    values = mask_tokens(masks, model.source_embedder.patch_size, target_patch)
    hard_keep, hard_take = keep.detach().round(), take.detach().round()
    slots = replace_patches(torch.zeros(*patches.shape[:2], values.shape[2], device=patches.device), values,
                            hard_keep, hard_take)
    logits = model.head(patches)[..., : values.shape[2]]
    per_value = F.binary_cross_entropy_with_logits(logits, slots, reduction="none")
    dropped = (1.0 - hard_keep).unsqueeze(-1).expand_as(per_value)
    return (per_value * dropped).sum() / dropped.sum().clamp_min(1.0)


def choose_slots(model: PaReModel, tokens: torch.Tensor, src_tokens: torch.Tensor, k: int, differentiable: bool,
                 cfg: PareConfig, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(keep, take)`` masks for a batch by ``cfg``'s method: the gate's scores (sigmoid or logit, by
    ``cfg.gumbel_input``), or uniformly random ones for ``pare_uniform``; placement by ``cfg.placement``.
    Under the relaxed signal the source scores pass no gradient (see :func:`training_loss`)."""
    if recipe(cfg.method).selection == "uniform":
        draw = [torch.rand(t.shape[:2], generator=generator).to(t) for t in (tokens, src_tokens)]
        return select_patches(*draw, k, differentiable=False, placement=cfg.placement)
    score = model.gate.logits if cfg.gumbel_input == "logit" else model.gate
    src_scores = score(src_tokens)
    if differentiable and cfg.gate_signal == "relaxed":
        src_scores = src_scores.detach()
    return select_patches(score(tokens), src_scores, k, differentiable=differentiable, tau=cfg.tau,
                          generator=generator, placement=cfg.placement)


def training_loss(
    model: PaReModel, task: TargetTask, scaler: _TargetScaler, x: torch.Tensor, y: torch.Tensor, k: int,
    differentiable: bool, cfg: PareConfig, source_batch: tuple[torch.Tensor, ...] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One batch's loss: the task loss alone for ``k = 0``, else PaRe's loss with ``k`` replaced patches.

    Args:
        model, task, scaler: what is trained, on what, with which target standardisation.
        x, y: the target batch.
        k: slots to replace (0: plain fine-tuning loss).
        differentiable: Gumbel top-k (the gate learns, by ``cfg.gate_signal``) or plain top-k.
        cfg: a resolved config (:func:`~mmft_kit.pare.config.resolve_config`).
        source_batch: ``(images, labels)`` or ``(images, labels, masks)`` of as many source samples.
        generator: draws the Gumbel noise.

    Returns:
        The scalar loss.
    """
    tokens = model.embed(x)
    if k == 0:
        return task_loss(task, scaler, model.predict(*model.encode(tokens)), y)
    images, labels, *masks = (t.to(x.device) for t in source_batch)
    src_tokens = model.embed_source(images)
    relaxed = differentiable and cfg.gate_signal == "relaxed"
    # the relaxed signal trains the gate from the target side only: the source side's straight-through
    # term is the authors' scale signal, and on the mechanism task it pulled the shared gate off course
    keep, take = choose_slots(model, tokens, src_tokens, k, differentiable and recipe(cfg.method).selection == "gate",
                              cfg, generator)
    mixed_tokens = (relaxed_replace if relaxed else replace_patches)(tokens, src_tokens, keep, take)
    # target and mixed sequences share one pass through the body (nothing mixes across a batch)
    pooled, patches = model.encode(torch.cat([tokens, mixed_tokens]))
    out, out_mixed = model.predict(pooled, patches).split(len(x))
    if cfg.source_objective == "mask":
        if not masks:
            raise InvalidInputError("source_objective 'mask' needs source masks (world_source renders them)")
        src_loss = _mask_loss(model, patches[len(x):], masks[0], keep, take)
    else:
        src_loss = F.cross_entropy(model.source_head(pooled[len(x):]), labels)
    n_target, n_source = tokens.shape[1], src_tokens.shape[1]
    return pare_loss(task_loss(task, scaler, out, y), task_loss(task, scaler, out_mixed, y), src_loss,
                     k / n_target, cfg.mix_weight, k / n_source)


def make_optimizer(model: nn.Module, cfg: PareConfig, steps: int):
    """AdamW over the trainable parameters with open_clip's decay split, the gate in its own group
    (learning rate ``lr · gate_lr_scale``), and the linear warm-up / decay schedule of the authors."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = decay_groups([(n, p) for n, p in named if not n.startswith("gate.")], cfg.weight_decay, NO_DECAY_EXTRA,
                          lr=cfg.lr)
    groups += decay_groups([(n, p) for n, p in named if n.startswith("gate.")], cfg.weight_decay, NO_DECAY_EXTRA,
                           lr=cfg.lr * cfg.gate_lr_scale)
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
    return optimizer, make_scheduler(optimizer, "linear", steps, warmup_steps=int(cfg.warmup_frac * steps))


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


def _source_batch(source: SourceData, index: torch.Tensor, with_masks: bool) -> tuple[torch.Tensor, ...]:
    batch = (source.images[index], source.labels[index])
    return batch + (source.masks[index],) if with_masks else batch


def _probe_chooser(model: PaReModel, cfg: PareConfig, seed: int) -> Chooser:
    """The run's selection rule for the gate diagnostics, with its own random stream (training's stays untouched)."""
    generator = torch.Generator().manual_seed(seed)

    def choose(tokens, src_tokens, k, gumbel):
        return choose_slots(model, tokens, src_tokens, k, gumbel, cfg, generator)
    return choose


@dataclass
class PareRunResult(RunResult):
    """A PaRe-family run's record (:class:`~mmft_kit.records.RunResult`, lower metric is better) with its
    model attached: ``model`` (weights of the selected epoch) predicts with its own head, and ``task`` is
    the target task it was tested on. :meth:`record` and :meth:`to_dict` leave them out."""

    model: PaReModel | None = field(default=None, repr=False)
    task: TargetTask | None = field(default=None, repr=False)


def recipe(method: str) -> Recipe:
    """The recipe of PaRe-family method ``method``."""
    if method not in RECIPES:
        raise InvalidInputError(f"unknown PaRe method {method!r}; choose one of {METHODS}")
    return RECIPES[method]


@lru_cache(maxsize=2)
def _cached_body(name: str) -> nn.Module:
    """The body named ``name``, loaded once per process (each run builds its model from a copy)."""
    return load_body(name)


def run(config: PareConfig) -> PareRunResult:
    """Run ``config``: its method on the built-in target task ``config.task`` with body ``config.body``;
    with ``config.output_dir`` the record goes to ``results.json`` there."""
    result = fit(get_target_task(config.task), config)
    if config.output_dir is not None:
        save_record(result, config.output_dir)
    return result


def fit(task: TargetTask, config: PareConfig, body: nn.Module | None = None,
        source: SourceData | None = None) -> PareRunResult:
    """Train ``config.method`` on ``task`` and evaluate on its test split.

    Args:
        task: the target task (``config.task`` is not read: :func:`run` builds it from there).
        config: the run: method, seed (initialisation, batch order, source / Gumbel draws, see
            :func:`random_streams`), device, progress bar, hyperparameters; ``None`` fields take the task kind's values.
        body: a body module to start from (a copy); default: ``config.body`` loaded once per process.
        source: source data; defaults to 1,000 world images labelled by ``config.source_label``, at the body's
            image size or with the target's token count (``config.source_tokens``), drawn with the run's seed.

    Returns:
        A :class:`PareRunResult` with the model (weights of the selected epoch: best validation metric, or the
        last with ``select="last"``) whose epochs carry PaRe's ``k``, ``lam``, ``gumbel`` and the gate
        diagnostics (:mod:`~mmft_kit.pare.diagnostics`) in ``extra``.
    """
    method, seed, progress = config.method, config.seed, config.progress
    how = recipe(method)
    cfg = resolve_config(task, config)
    device = resolve_device(config.device)
    started = time.perf_counter()
    seed_everything(seed)
    streams = random_streams(seed)
    pretrained = how.pretrained
    if body is None:
        body = _cached_body(config.body)
    if source is None and pretrained:
        size = source_image_size(task, body) if cfg.source_tokens == "target" else \
            (as_body(body).image_size or (32, 32))[0]
        source = world_source(label=cfg.source_label, image_size=size, seed=seed)
    if cfg.source_objective == "mask" and (source is None or source.masks is None):
        cfg = cfg.model_copy(update={"source_objective": "ce"})
    model = build_pare_model(task, body=body, source_images=source.images[:512] if pretrained else None,
                             source_classes=source.num_classes if source is not None else 1, pretrained=pretrained)
    if not how.gate_learns:
        model.gate.requires_grad_(False)
    model.to(device)
    extra: dict = {"task": task.name, "body": body_record(body)}
    if how.aligns:
        extra["align_history"] = align_embedder(model, task, source, objective=cfg.orca_objective,
                                                steps=cfg.orca_steps, lr=cfg.orca_lr, seed=seed, device=device,
                                                progress=progress)
    scaler = _TargetScaler(task)
    n_train = len(task.x_train)
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    optimizer, scheduler = make_optimizer(model, cfg, steps_per_epoch * cfg.epochs)
    n_tokens = model.embedder.num_tokens
    n_source = model.source_embedder.num_tokens if model.source_embedder is not None else 0
    monitor = None
    if how.mixes:
        probe = cfg.gate_log_samples
        informative = informative_mask(task) if "informative" in task.extra else None
        monitor = GateMonitor(model, task.x_val[:probe], (source.images[:probe], source.labels[:probe]), informative,
                              source_accuracy=cfg.source_objective == "ce", choose=_probe_chooser(model, cfg, seed))
    with_masks = cfg.source_objective == "mask"
    log = RunLogger(config, task.name, task.metric_name)
    order_digest = hashlib.sha1()
    history: list[EpochRecord] = []
    best = (math.inf, -1, None)
    for epoch in tqdm(range(cfg.epochs), desc=f"{task.name}/{method}/seed{seed}", leave=False, **bar_options(progress)):
        tick = time.perf_counter()
        k = 0
        if how.mixes:
            k = replacement_count(epoch, cfg.epochs, cfg.begin_frac * n_tokens, cfg.end_frac * n_tokens)
            k = min(max(k, 0), n_tokens, n_source)
        gumbel = epoch < cfg.gumbel_epochs
        model.train()
        order = torch.randperm(n_train, generator=streams["order"])
        order_digest.update(order.numpy().tobytes())
        total = 0.0
        for batch in order.split(cfg.batch_size):
            x, y = task.x_train[batch].to(device), task.y_train[batch].to(device)
            source_batch = _source_batch(source, source.draw(len(batch), streams["mix"]), with_masks) if k else None
            loss = training_loss(model, task, scaler, x, y, k, gumbel, cfg, source_batch, streams["mix"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            optimizer.step()
            scheduler.step()
            total += float(loss.detach()) * len(batch)
        val = evaluate(model, task, "val", scaler, cfg.eval_batch_size, device)
        figures = {"k": k, "lam": k / n_tokens, "gumbel": gumbel and k > 0}
        if monitor is not None:
            figures.update(monitor.measure(model, k))
        history.append(EpochRecord(epoch, total / n_train, scheduler.get_last_lr()[0], val,
                                   time.perf_counter() - tick, figures))
        log.epoch(history[-1])
        if cfg.select == "last" or val < best[0] or best[2] is None:
            best = (val, epoch, {name: t.detach().clone() for name, t in model.state_dict().items()})
    model.load_state_dict(best[2])
    test = evaluate(model, task, "test", scaler, cfg.eval_batch_size, device)
    extra.update(num_tokens=n_tokens, source_tokens=n_source, batch_order_sha1=order_digest.hexdigest(),
                 checks=manipulation_checks(history, best[1]))
    result = PareRunResult(method, seed, task.metric_name, False, test, best[0], best[1],
                           time.perf_counter() - started, history, cfg.model_dump(), extra, model=model, task=task)
    log.finish(result)
    return result
