"""Optimiser pieces both trainers share: the weight-decay split and the learning-rate schedules.

The split follows open_clip's training script: parameters under 2-D (gains, biases) and those
named as batch/layer norms, biases or the logit scale are not decayed; every other weight is. Schedules are
transformers' (``get_scheduler``), stepped once per optimiser step.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn
from transformers import get_scheduler

from .errors import InvalidInputError

#: Schedules by name (transformers' names): what each does per optimiser step.
SCHEDULES: dict[str, str] = {
    "cosine": "linear warm-up, then cosine decay to 0 (the MMFT authors: no warm-up)",
    "linear": "linear warm-up, then linear decay to 0 (the PaRe / ORCA authors)",
    "constant_with_warmup": "linear warm-up, then constant",
}

#: open_clip's rule: parameters whose name contains one of these (or under 2-D) are not decayed.
NO_DECAY_KEYS = ("bn", "ln", "bias", "logit_scale")


def no_decay(name: str, param: torch.Tensor, extra_keys: tuple[str, ...] = ()) -> bool:
    """True for a parameter that weight decay leaves alone: under 2-D, or named with one of
    :data:`NO_DECAY_KEYS` or ``extra_keys``."""
    return param.ndim < 2 or any(key in name for key in NO_DECAY_KEYS + tuple(extra_keys))


def decay_groups(named_parameters: Iterable[tuple[str, nn.Parameter]], weight_decay: float,
                 extra_keys: tuple[str, ...] = (), **group_options) -> list[dict]:
    """Two AdamW parameter groups, decayed and not, of the trainable parameters given.

    Args:
        named_parameters: ``model.named_parameters()`` or a subset of it.
        weight_decay: decay of the decayed group.
        extra_keys: further name fragments to leave undecayed (e.g. ``("pos", "embedding")``).
        group_options: further settings for both groups (e.g. ``lr``).

    Returns:
        ``[{"params": decayed, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0}]``,
        leaving out an empty group and frozen parameters.
    """
    decayed, rest = [], []
    for name, param in named_parameters:
        if param.requires_grad:
            (rest if no_decay(name, param, extra_keys) else decayed).append(param)
    groups = [{"params": decayed, "weight_decay": weight_decay, **group_options},
              {"params": rest, "weight_decay": 0.0, **group_options}]
    return [g for g in groups if g["params"]]


def make_scheduler(optimizer: torch.optim.Optimizer, name: str, total_steps: int,
                   warmup_steps: int = 0) -> torch.optim.lr_scheduler.LRScheduler:
    """A per-step schedule from transformers by ``name`` (see :data:`SCHEDULES`)."""
    if name not in SCHEDULES:
        raise InvalidInputError(f"unknown schedule {name!r}; choose one of {sorted(SCHEDULES)}")
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise InvalidInputError(f"a schedule needs total_steps ≥ 1 and 0 ≤ warmup_steps ≤ total_steps; "
                                f"got total_steps={total_steps}, warmup_steps={warmup_steps}")
    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps)
