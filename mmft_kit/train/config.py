"""The settings of one fine-tuning run, checked when made."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..method import get_method
from ..params.base import redefault
from ..params.fields import CaptionerParams, ClipParams, DataParams, FewShotParams, OptimParams, RunParams

#: The ``eval_sets`` entry that stands for the data set's shifted variants.
SHIFTED = "shifted"


class TrainConfig(RunParams, OptimParams, FewShotParams, CaptionerParams, ClipParams, DataParams):
    """One run of a CLIP method (fine-tuned or frozen baseline): method, data, model, captions, optimisation, output.

    The data, model, caption, few-shot and optimiser fields (and their defaults and ranges) are
    the groups of :mod:`mmft_kit.params.fields` that the notebooks share; build a run's config
    from a notebook's parameters with ``TrainConfig.take(params, method=..., seed=...)``. The
    optimiser is AdamW with a cosine schedule per step to 0 without warm-up (the authors' rule);
    the authors' values on ViT-B/32 are :data:`mmft_kit.params.PAPER_SETTINGS`.

    The last fields choose evaluation sets, saving and the authors' baseline options; their
    defaults keep the kit's behaviour (see README, "Judging a fine-tuned model").
    """

    what = "TrainConfig settings"
    fix = "Fix them where the config is made (a notebook's parameters, the benchmark's options)."

    method: str = redefault(RunParams, "method", "mmft")
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
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    wise_ft: bool = Field(False, description="also trace test accuracy along the WiSE-FT interpolation (methods "
                                             "that change weights; zeroshot and the frozen baselines have none)")
    eval_sets: list[str] = Field([], description="further test sets with the same class names, reported in "
                                                 "RunResult.extra['eval']: registry names (e.g. imagenet_a under "
                                                 f"root) or '{SHIFTED}', the data set's shifted variants "
                                                 "(mmft_kit.data.shifted_variants; none for most data sets)")
    save_classifier: bool = Field(False, description="write the trained classifier to output_dir/classifier "
                                                     "(mmft_kit.load_classifier reads it)")
    save_wise_ft_alpha: float | None = Field(None, ge=0, le=1, description="save the WiSE-FT interpolation at "
                                                                           "this alpha instead of the fine-tuned "
                                                                           "weights")
    flyp_templates: Literal["single", "random80"] = Field(
        "single", description="FLYP's training text: 'single' ('a photo of a {c}.') or 'random80' (the paper's "
                              "FLYP-ens: a random one of CLIP's 80 templates per image and visit)")
    train_augment: bool = Field(False, description="open_clip's training transform (RandomResizedCrop, scale "
                                                   "0.9-1.0) instead of the evaluation transform")
    clamp_logit_scale: bool = Field(True, description="clamp the logit scale at 100 after each step, as open_clip "
                                                      "trains (False: unclamped, as the MMFT authors' code)")
    prompt_full_stop: bool = Field(True, description="zero-shot/FLYP prompt 'a photo of a {c}.' (False: the "
                                                     "authors' 'a photo of a {c}')")

    @model_validator(mode="after")
    def _wise_ft_alpha_needs_trained_weights(self) -> "TrainConfig":
        if self.save_wise_ft_alpha is not None and not get_method(self.method).wise_ft:
            raise ValueError(f"{self.method} changes no weights, so there is no WiSE-FT interpolation to save: "
                             "leave save_wise_ft_alpha at None")
        return self

    @property
    def eval_set_names(self) -> list[str]:
        """``eval_sets`` with ``'shifted'`` replaced by the names of the data set's shifted variants."""
        from ..data import shifted_variants

        names: list[str] = []
        for name in self.eval_sets:
            names += shifted_variants(self.dataset) if name == SHIFTED else [name]
        return list(dict.fromkeys(names))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """The config saved by :meth:`to_dict`; unknown keys are an error naming them."""
        return cls(**data)
