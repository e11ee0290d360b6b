"""Patch replacement: how many source patches, which ones, and where they go.

PaRe builds an intermediate modality by writing the ``k`` best-scored *source* patch tokens
into the ``k`` worst-scored *target* patch slots of each target sample. ``k`` shrinks over
training (:func:`replacement_count`), so the mixed inputs drift from source-like to
target-like. Early on, the choice of patches is a differentiable Gumbel top-k
(:func:`gumbel_topk`) so that the gate learns to score patches; later it is a plain top-k.
"""

from __future__ import annotations

import torch

from ..errors import InvalidInputError

#: Temperature of the relaxed top-k in the authors' code.
GUMBEL_TAU = 0.9


def replacement_count(epoch: int, epochs: int, begin: float, end: float) -> int:
    """Number of source patches at ``epoch``: ``int(begin - end * epoch / epochs)``.

    This is the authors' schedule verbatim; ``begin`` and ``end`` are in patches. The trainer
    maps the authors' (begin, end), given for 3136 Swin tokens, to fractions of the target's
    token count and clamps the result to ``[0, min(N_source, N_target)]``.
    """
    if epochs <= 0:
        raise InvalidInputError(f"epochs must be positive; got {epochs}")
    return int(begin - end * epoch / epochs)


def gumbel_topk(
    scores: torch.Tensor, k: int, tau: float = GUMBEL_TAU, hard: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Relaxed k-hot sample over the last dimension of ``scores`` ``(B, N)``.

    Gumbel noise is added to the scores once, then ``k`` rounds of softmax each push the
    already-chosen mass down (the continuous top-k of Xie & Ermon, as in the authors' code).
    With ``hard`` the forward value is an exact k-hot mask (the top-k of the relaxed sum) and
    the gradient is the relaxed one (straight-through). Chosen entries are masked by adding
    ``log(tiny)`` (≈ −87 in float32), so scores must span less than that: the gate's sigmoid
    outputs in (0, 1) do, and against Gumbel noise of unit scale they make the early selection
    close to random, as in the authors' code.
    """
    if scores.dim() != 2:
        raise InvalidInputError(f"scores must be (batch, tokens); got shape {tuple(scores.shape)}")
    n = scores.shape[1]
    if not 0 <= k <= n:
        raise InvalidInputError(f"k must lie in [0, {n}] for {n} tokens; got {k}")
    if k == 0:
        return scores * 0.0
    uniform = torch.rand(scores.shape, generator=generator, device="cpu").to(scores)
    gumbel = -torch.log((-torch.log(uniform.clamp_min(1e-20))).clamp_min(1e-20))
    logits = scores + gumbel
    tiny = torch.finfo(scores.dtype).tiny
    khot = torch.zeros_like(scores)
    onehot = torch.zeros_like(scores)
    for _ in range(k):
        logits = logits + torch.log((1.0 - onehot).clamp_min(tiny))
        onehot = torch.softmax(logits / tau, dim=1)
        khot = khot + onehot
    if not hard:
        return khot
    index = khot.topk(k, dim=1).indices
    hard_mask = torch.zeros_like(khot).scatter_(1, index, 1.0)
    return hard_mask - khot.detach() + khot


def topk_mask(scores: torch.Tensor, k: int, largest: bool = True) -> torch.Tensor:
    """Exact k-hot mask of the ``k`` largest (or smallest) scores per row; no gradient."""
    index = scores.detach().topk(k, dim=1, largest=largest).indices
    return torch.zeros_like(scores, requires_grad=False).scatter_(1, index, 1.0)


def _slot_index(mask: torch.Tensor, k: int) -> torch.Tensor:
    """Positions of the ones of a k-hot mask, ascending, as a ``(B, k)`` index."""
    picked = mask.detach() > 0.5
    counts = picked.sum(dim=1)
    if not bool((counts == k).all()):
        raise InvalidInputError(f"every mask row must hold exactly {k} ones; got counts {counts.tolist()}")
    order = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return torch.where(picked, order, order + mask.shape[1]).sort(dim=1).values[:, :k]


def replace_patches(
    target: torch.Tensor, source: torch.Tensor, keep: torch.Tensor, take: torch.Tensor
) -> torch.Tensor:
    """Write the ``take``-selected source tokens into the target slots that ``keep`` drops.

    ``target`` ``(B, N, d)``, ``source`` ``(B, M, d)``; ``keep`` ``(B, N)`` holds ``N - k`` ones
    (slots that stay target), ``take`` ``(B, M)`` holds ``k`` ones (source patches to use).
    The i-th selected source patch (by position) goes to the i-th dropped slot (by position).
    Masks may carry straight-through gradients: kept slots are ``target * keep`` and written
    slots are ``source * take``, so a forward value of 1 passes the gate's gradient on.
    """
    if target.dim() != 3 or source.dim() != 3 or target.shape[::2] != source.shape[::2]:
        raise InvalidInputError(
            f"target and source must be (B, N, d) and (B, M, d) with equal B and d; "
            f"got {tuple(target.shape)} and {tuple(source.shape)}"
        )
    k = int(round(float(take.detach()[0].sum()))) if take.shape[0] else 0
    if k == 0:
        return target * keep.unsqueeze(-1)
    slots = _slot_index(1.0 - keep, k)
    picks = _slot_index(take, k)
    width = target.shape[2]
    chosen = (source * take.unsqueeze(-1)).gather(1, picks.unsqueeze(-1).expand(-1, -1, width))
    kept = target * keep.unsqueeze(-1)
    return kept.scatter(1, slots.unsqueeze(-1).expand(-1, -1, width), chosen)


def relaxed_replace(
    target: torch.Tensor, source: torch.Tensor, keep: torch.Tensor, take: torch.Tensor
) -> torch.Tensor:
    """As :func:`replace_patches` in the forward pass; a dropped slot is ``keep·target + (1 − keep)·source``.

    With a straight-through ``keep`` (forward value 0 in dropped slots) the forward value equals
    :func:`replace_patches`, but the derivative of the loss in a dropped slot's keep weight is
    ``⟨∂L/∂slot, target − source⟩``: the first-order change of the loss had the slot kept its
    target token, i.e. what replacing it cost. Under :func:`replace_patches` a dropped slot is
    overwritten and passes no gradient to ``keep``. Kept slots pass none either: their own
    first-order term (a jump from the target token to some source token, linearised at the
    target) proved misleading on the mechanism task (it favoured replacing the informative tokens).
    """
    k = int(round(float(take.detach()[0].sum()))) if take.shape[0] else 0
    if k == 0:
        return target * keep.unsqueeze(-1)
    dropped = (1.0 - keep.detach()).unsqueeze(-1)
    written = replace_patches(torch.zeros_like(target), source, keep.detach(), take)
    fill = written * dropped + target.detach() * (1.0 - dropped)
    weight = keep.unsqueeze(-1)
    return weight * target + (1.0 - weight) * fill


def positional_take(keep: torch.Tensor) -> torch.Tensor:
    """The source mask that fills each replaced target slot with the source patch at the same position."""
    return (keep.detach() < 0.5).to(keep.dtype)


def select_patches(
    target_scores: torch.Tensor, source_scores: torch.Tensor, k: int, differentiable: bool,
    tau: float = GUMBEL_TAU, generator: torch.Generator | None = None, placement: str = "ordered",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(keep, take)`` masks: keep all but the ``k`` lowest-scored target slots, take the top-k source patches.

    ``differentiable`` uses the Gumbel top-k for both (the target's kept set is a relaxed
    top-(N-k), as in the authors' warm-up path); otherwise exact top-k without gradient.
    The authors' late-epoch code replaces the target's *highest*-scored patches, contrary to
    their Figure 2 and their warm-up path; we follow the figure and replace the lowest-scored.
    ``placement="position"`` (a deviation) takes the source patches at the replaced slots' own
    positions instead of the top-k source patches; it needs as many source as target tokens.
    """
    n, m = target_scores.shape[1], source_scores.shape[1]
    if not 0 <= k <= min(n, m):
        raise InvalidInputError(f"k must lie in [0, {min(n, m)}] (target {n}, source {m} tokens); got {k}")
    if placement not in ("ordered", "position"):
        raise InvalidInputError(f"placement must be 'ordered' or 'position'; got {placement!r}")
    if placement == "position" and n != m:
        raise InvalidInputError(f"placement 'position' needs equal token counts; target {n}, source {m}: render the "
                                "source at the target's grid (source_tokens='target')")
    if differentiable:
        keep = gumbel_topk(target_scores, n - k, tau=tau, generator=generator)
        take = gumbel_topk(source_scores, k, tau=tau, generator=generator) if placement == "ordered" else None
    else:
        keep = topk_mask(target_scores, n - k, largest=True)
        take = topk_mask(source_scores, k, largest=True) if placement == "ordered" else None
    return keep, positional_take(keep) if take is None else take
