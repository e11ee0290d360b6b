"""The settings of one fine-tuning run, checked when made."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from ..errors import InvalidInputError
from ..params.fields import CaptionerParams, ClipParams, DataParams, FewShotParams, OptimParams, SeedParams

#: The methods, by name, with what each one does.
METHODS: dict[str, str] = {
    "mmft": "synthetic captions + MMFT loss (CLIP + supervised contrastive), caption-prototype head",
    "flyp": "FLYP: CLIP loss on ('image', 'a photo of a {class}.') pairs, single-prompt head",
    "flyp_ens": "FLYP training as 'flyp'; validated and tested with the 80-template ensemble head",
    "ce": "image tower + linear head (initialised from the zero-shot prompt head), cross-entropy",
    "zeroshot": "the start model with the single-prompt head, no training",
}


def check_method(method: str) -> str:
    """``method`` if it is known, else an error listing the methods."""
    if method not in METHODS:
        listing = "; ".join(f"{name}: {text}" for name, text in METHODS.items())
        raise InvalidInputError(f"unknown method {method!r}; choose one of {list(METHODS)} ({listing})")
    return method


class TrainConfig(OptimParams, SeedParams, FewShotParams, CaptionerParams, ClipParams, DataParams):
    """One run: method, data, model, captions, optimisation and output.

    The data, model, caption, few-shot and optimiser fields (and their defaults and ranges) are
    the groups of :mod:`mmft_kit.params.fields` that the notebooks share; build a run's config
    from a notebook's parameters with ``TrainConfig.take(params, method=..., seed=...)``. The
    optimiser is AdamW with a cosine schedule per step to 0 without warm-up (the authors' rule);
    the authors' values on ViT-B/32 are :data:`mmft_kit.params.PAPER_SETTINGS`.
    """

    what = "TrainConfig settings"
    fix = "Fix them where the config is made (a notebook's parameters, the benchmark's options)."

    method: Annotated[str, AfterValidator(check_method)] = Field("mmft", description="what to train; see METHODS")
    make_captions: bool = Field(False, description="caption images missing from the store first (else an error "
                                                   "naming the command that makes them)")
    characteristics: list[str] | None = Field(None, description="captions per image used (None: all the store holds)")
    add_class_prefix: bool = Field(True, description="prefix each caption with the class prompt")
    schedule: str = Field("cosine", description="learning-rate schedule per step (mmft_kit.optim.SCHEDULES)")
    warmup_steps: int = Field(0, ge=0, description="linear warm-up steps (the authors: none)")
    w: float = Field(0.1, ge=0, le=1, description="weight of the supervised term of the MMFT loss")
    eval_every: int = Field(1, ge=1, description="validate every that many epochs (and after the last one)")
    val_fraction: float = Field(0.1, gt=0, lt=1, description="share of train held out per class as validation "
                                                             "data when the data set has no val split")
    amp: bool = Field(True, description="float16 autocast on CUDA")
    device: str | None = Field(None, description="torch device (None: CUDA when present, else CPU)")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    eval_batch_size: int = Field(256, ge=1, description="images per evaluation step")
    output_dir: str | None = Field(None, description="checkpoints (resumable), results and provenance go here")
    wise_ft: bool = Field(False, description="also trace test accuracy along the WiSE-FT interpolation")
    progress: bool = Field(True, description="tqdm bars (their look: tqdm's own TQDM_* settings)")

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON-able values."""
        return self.model_dump()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """The config saved by :meth:`to_dict`; unknown keys are an error naming them."""
        return cls(**data)
