"""WiSE-FT: interpolate zero-shot and fine-tuned weights, and trace accuracy along the way."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .errors import InvalidInputError
from .runtime import bar_options

StateDict = Mapping[str, torch.Tensor]

#: α from 0 (zero-shot) to 1 (fine-tuned) in steps of 0.1.
DEFAULT_ALPHAS: tuple[float, ...] = tuple(i / 10 for i in range(11))


def interpolate_weights(zeroshot_state: StateDict, finetuned_state: StateDict, alpha: float) -> dict[str, torch.Tensor]:
    """``(1 − α)·θ_zs + α·θ_ft`` for every floating tensor; other entries come from the fine-tuned state.

    α = 0 and α = 1 return the end points exactly; α outside [0, 1] extrapolates. Tensors
    that are equal in both states are taken as they are (so masks holding ``-inf`` survive).
    """
    missing = sorted(set(finetuned_state) - set(zeroshot_state))
    extra = sorted(set(zeroshot_state) - set(finetuned_state))
    if missing or extra:
        raise InvalidInputError(
            "the zero-shot and fine-tuned state dicts have different keys "
            f"(only fine-tuned: {missing[:5]}, only zero-shot: {extra[:5]}): "
            "pass state dicts of the same architecture"
        )
    merged = {}
    for key, finetuned in finetuned_state.items():
        zeroshot = zeroshot_state[key]
        if zeroshot.shape != finetuned.shape:
            raise InvalidInputError(
                f"{key!r} has shape {tuple(zeroshot.shape)} zero-shot but {tuple(finetuned.shape)} fine-tuned: "
                "pass state dicts of the same architecture"
            )
        zeroshot = zeroshot.to(device=finetuned.device, dtype=finetuned.dtype)
        if not finetuned.is_floating_point() or torch.equal(zeroshot, finetuned):
            merged[key] = finetuned.clone()
        else:
            merged[key] = torch.lerp(zeroshot, finetuned, alpha)
    return merged


def wise_ft_curve(
    model: nn.Module,
    zeroshot_state: StateDict,
    finetuned_state: StateDict,
    evaluate: Callable[[nn.Module], float],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    progress: bool = True,
) -> list[tuple[float, float]]:
    """``[(α, evaluate(model with interpolated weights)), ...]``, with a tqdm bar over α unless ``progress``
    is False (or tqdm's ``TQDM_DISABLE`` is set).

    The model ends with the fine-tuned weights loaded, also when ``evaluate`` raises.
    ``finetuned_state`` may be the model's own ``state_dict()``: it is copied first.
    """
    finetuned = {key: value.detach().clone() for key, value in finetuned_state.items()}
    curve = []
    try:
        for alpha in tqdm(alphas, desc="WiSE-FT", leave=False, **bar_options(progress)):
            model.load_state_dict(interpolate_weights(zeroshot_state, finetuned, alpha))
            curve.append((float(alpha), float(evaluate(model))))
    finally:
        model.load_state_dict(finetuned)
    return curve
