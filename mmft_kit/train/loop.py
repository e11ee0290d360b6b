"""The fine-tuning loop shared by every method: AdamW (open_clip's decay split), a per-step schedule from
transformers (cosine to 0 without warm-up by default, the authors' rule), AMP, best-validation state.

Reproducible and resumable: the order of the images in epoch ``e`` depends only on
``(seed, e)``, and a data set with ``set_epoch`` (captions drawn per epoch) is told the epoch,
so a run resumed from its checkpoint continues as if never interrupted. Under
``torch.distributed`` (torchrun) the model is wrapped in DistributedDataParallel and each of
the N ranks loads ``batch_size / N`` images of every batch from the permutation one process
draws, so N ranks together train on the one-process batches (with the losses gathering features
and labels, see :mod:`mmft_kit.losses`, the run equals the one-process run up to float
rounding; a training set whose size N does not divide is padded with repeated images, as
DistributedSampler does). Only rank 0 evaluates (the others receive its figures)
and writes checkpoints; every rank resumes from them, so ``checkpoint_dir`` must be on a file
system every rank sees.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..io import atomic_write_bytes
from ..optim import decay_groups, make_scheduler
from ..records import EpochRecord
from ..runtime import bar_options, resolve_device
from .config import TrainConfig
from .methods import LossFn

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best_model.pt"
_MAX_LOGIT_SCALE = math.log(100)
#: Devices with a fused AdamW kernel (same update, several times faster than the per-tensor loop on CPU).
_FUSED_ADAMW = ("cpu", "cuda")


@dataclass
class FitResult:
    """The kept (best-validation) weights, on the CPU, and the history that chose them."""

    best_state: dict[str, torch.Tensor] = field(repr=False)
    best_epoch: int
    best_val: float | None
    history: list[EpochRecord]


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def is_main_process() -> bool:
    """True outside torch.distributed and on rank 0."""
    return not _distributed() or dist.get_rank() == 0


def on_main_process(compute: Callable[[], Any]) -> Any:
    """``compute()`` on rank 0 only, its (picklable) result handed to every rank; just ``compute()`` alone."""
    if not _distributed():
        return compute()
    result = [compute() if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(result, src=0)
    return result[0]


def _world_size() -> int:
    return dist.get_world_size() if _distributed() else 1


def cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of ``model``'s state dict."""
    return {key: value.detach().to("cpu", copy=True) for key, value in model.state_dict().items()}


def _loader(data: Dataset, batch_size: int, seed: int, num_workers: int,
            pin_memory: bool) -> tuple[DataLoader, DistributedSampler]:
    """A shuffling loader of this rank's share of each global batch, and its sampler (reseeded each epoch).

    Epoch ``e`` shuffles with the permutation drawn from ``seed * 1_000_003 + e``; of it, rank r
    of N takes every N-th image from the r-th, ``batch_size / N`` per step, so the N ranks'
    batches together are the one-process batches (the same sampler serves one process, N = 1).
    """
    world = _world_size()
    if batch_size % world:
        raise InvalidInputError(
            f"batch_size {batch_size} is the global batch and must split evenly over the {world} processes: "
            f"give a multiple of {world}"
        )
    rank = dist.get_rank() if world > 1 else 0
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=seed * 1_000_003)
    # workers are not kept between epochs: each epoch's workers must see the data set's set_epoch
    loader = DataLoader(data, batch_size=batch_size // world, sampler=sampler, num_workers=num_workers,
                        pin_memory=pin_memory, generator=torch.Generator().manual_seed(seed))
    return loader, sampler


def _start_epoch(data: Dataset, sampler: DistributedSampler, epoch: int) -> None:
    sampler.set_epoch(epoch)
    if hasattr(data, "set_epoch"):
        data.set_epoch(epoch)


def _clamp_logit_scale(model: nn.Module) -> None:
    scale = getattr(model, "logit_scale", None)
    if isinstance(scale, nn.Parameter) and scale.requires_grad:
        with torch.no_grad():
            scale.clamp_(0, _MAX_LOGIT_SCALE)


def _device_of(device: str | torch.device | None) -> torch.device:
    device = resolve_device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


@dataclass
class _State:
    """Everything a checkpoint holds besides the model, optimiser, schedule and scaler."""

    epoch: int = 0
    best_epoch: int = 0
    best_val: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    history: list[EpochRecord] = field(default_factory=list)


def _save(path: Path, state: _State, model, optimizer, scheduler, scaler, signature: dict) -> None:
    buffer = io.BytesIO()
    torch.save({
        "signature": signature, "epoch": state.epoch, "best_epoch": state.best_epoch, "best_val": state.best_val,
        "best_state": state.best_state, "history": [asdict(r) for r in state.history],
        "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
    }, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _resume(path: Path, model, optimizer, scheduler, scaler, signature: dict) -> _State:
    if not path.is_file():
        return _State()
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved["signature"] != signature:
        differs = sorted(k for k in set(signature) | set(saved["signature"])
                         if signature.get(k) != saved["signature"].get(k))
        raise InvalidInputError(
            f"{path} is the checkpoint of a run with other settings (differing: {differs}); "
            "give another output folder, or delete the checkpoint to start afresh"
        )
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    scaler.load_state_dict(saved["scaler"])
    return _State(saved["epoch"], saved["best_epoch"], saved["best_val"], saved["best_state"],
                  [EpochRecord(**r) for r in saved["history"]])


def _train_epoch(model, loader, loss_fn, optimizer, scheduler, scaler, device, use_amp, progress,
                 clamp_logit_scale: bool = True) -> float:
    """Mean training loss of the epoch (over every rank's batches), read back once at its end."""
    total, batches = torch.zeros((), device=device), 0
    model.train()
    for images, texts, labels in tqdm(loader, desc="batches", leave=False, **bar_options(progress and len(loader) >= 8)):
        images, labels = images.to(device, non_blocking=True), torch.as_tensor(labels).to(device, non_blocking=True)
        texts = texts if isinstance(texts, torch.Tensor) else list(texts)  # token ids, or strings to tokenise
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            loss = loss_fn(model, images, texts, labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        if clamp_logit_scale:
            _clamp_logit_scale(model.module if isinstance(model, DistributedDataParallel) else model)
        total, batches = total + loss.detach().float(), batches + 1
    if _distributed():
        dist.all_reduce(total)
        total = total / dist.get_world_size()
    return total.item() / max(batches, 1)


def fine_tune(
    model: nn.Module,
    train_data: Dataset,
    loss_fn: LossFn,
    evaluate: Callable[[nn.Module], float] | None,
    config: TrainConfig,
    signature: dict | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> FitResult:
    """Train every parameter of ``model`` that requires grad; return and load the best-validation weights.

    ``train_data`` yields ``(image, text, label)`` (the text as a string, or as token ids);
    ``loss_fn(model, images, texts, labels)`` gives the loss. The settings are ``config``'s (epochs,
    lr, weight_decay, schedule, warmup_steps, batch_size, seed, device, amp, eval_every, num_workers,
    progress, clamp_logit_scale; its ``output_dir`` holds the checkpoints). ``batch_size`` is the global
    batch, split evenly over the ranks under torch.distributed. ``evaluate(model)`` → validation
    accuracy, called every ``eval_every`` epochs and after the last (on rank 0 alone); the
    weights of the first epoch with the highest accuracy are kept in memory (the last epoch's
    when ``evaluate`` is None). AdamW with weight decay on weights only
    (:func:`mmft_kit.optim.decay_groups`) and the ``schedule`` of :func:`mmft_kit.optim.make_scheduler`
    stepped per iteration (by default cosine from ``lr`` to 0 without warm-up); AMP (float16) when
    ``amp`` and on CUDA.
    With an ``output_dir`` a checkpoint is written atomically after every epoch (and the best
    weights whenever they improve), and a run with the same settings (``signature`` adds
    the caller's) resumes from it. ``clamp_logit_scale``: clamp the logit scale at 100 after every step
    (open_clip's training); ``False`` leaves it free, as the MMFT authors' code does. ``on_epoch(record)`` is
    called with each epoch's :class:`~mmft_kit.records.EpochRecord` on rank 0 (the experiment loggers' hook).
    """
    epochs, lr, weight_decay, batch_size, seed = config.epochs, config.lr, config.weight_decay, config.batch_size, \
        config.seed
    schedule, warmup_steps, eval_every = config.schedule, config.warmup_steps, config.eval_every
    checkpoint_dir = config.output_dir
    if len(train_data) == 0:
        raise InvalidInputError("no training images: the training set is empty")
    device = _device_of(config.device)
    model.to(device)
    use_amp = config.amp and device.type == "cuda"
    loader, sampler = _loader(train_data, batch_size, seed, config.num_workers, pin_memory=device.type == "cuda")
    optimizer = torch.optim.AdamW(decay_groups(model.named_parameters(), weight_decay), lr=lr,
                                  fused=device.type in _FUSED_ADAMW)
    scheduler = make_scheduler(optimizer, schedule, epochs * len(loader), warmup_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)
    signature = {"epochs": epochs, "lr": lr, "weight_decay": weight_decay, "schedule": schedule,
                 "warmup_steps": warmup_steps, "batch_size": batch_size, "seed": seed,
                 "eval_every": eval_every, "train_size": len(train_data), **(signature or {})}
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    state = _resume(checkpoint, model, optimizer, scheduler, scaler, signature) if checkpoint else _State()
    trained = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
        if _distributed() else model

    progress = config.progress and is_main_process()
    bar = tqdm(range(state.epoch + 1, epochs + 1), desc="fine-tuning", **bar_options(progress),
               initial=state.epoch, total=epochs)
    for epoch in bar:
        start = time.perf_counter()
        _start_epoch(train_data, sampler, epoch)
        loss = _train_epoch(trained, loader, loss_fn, optimizer, scheduler, scaler, device, use_amp, progress,
                            config.clamp_logit_scale)
        val = None
        if evaluate is not None and (epoch % eval_every == 0 or epoch == epochs):
            val = on_main_process(lambda: float(evaluate(model)))
            if state.best_val is None or val > state.best_val:
                state.best_val, state.best_epoch, state.best_state = val, epoch, cpu_state(model)
                if checkpoint and is_main_process():
                    _save_best(checkpoint.with_name(BEST_NAME), state.best_state)
        state.epoch = epoch
        state.history.append(EpochRecord(epoch, loss, scheduler.get_last_lr()[0], val, time.perf_counter() - start))
        if on_epoch is not None and is_main_process():
            on_epoch(state.history[-1])
        bar.set_postfix(loss=f"{loss:.3f}", val="-" if val is None else f"{val:.3f}", refresh=False)
        if checkpoint and is_main_process():
            _save(checkpoint, state, model, optimizer, scheduler, scaler, signature)
    if state.best_state is None:  # no validation: keep the last weights
        state.best_state, state.best_epoch = cpu_state(model), state.epoch
    model.load_state_dict(state.best_state)
    return FitResult(state.best_state, state.best_epoch, state.best_val, state.history)


def _save_best(path: Path, weights: dict[str, torch.Tensor]) -> None:
    buffer = io.BytesIO()
    torch.save(weights, buffer)
    atomic_write_bytes(path, buffer.getvalue())
