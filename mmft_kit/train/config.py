"""The settings of one fine-tuning run, checked when made."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import InvalidInputError

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


@dataclass
class TrainConfig:
    """One run: method, data, model, captions, optimisation and output.

    Optimisation defaults are the authors' (AdamW lr 1e-5, weight decay 1e-4, batch 64, 50
    epochs, cosine per iteration to 0 without warmup, AMP on CUDA, best-validation epoch kept);
    the small embedded models want larger learning rates (see ``benchmarks/few_shot.py --tune``).

    * ``shots``: images per class drawn from train with ``seed`` (``None``: the whole train pool).
    * ``val_fraction``: share of train held out (per class, with ``seed``) as validation data
      when the data set has no ``val`` split. Validation is always full-size.
    * ``caption_store``: JSONL caption store of ``mmft`` (``None``: a per-data-set file in the
      kit's cache); ``make_captions`` captions missing images with ``captioner`` first,
      otherwise missing captions are an error naming the command that makes them.
    * ``characteristics``: captions per image used (``None``: all the store holds).
    * ``w``: weight of the supervised term of the MMFT loss.
    * ``eval_every``: validate every that many epochs (and after the last one).
    * ``output_dir``: where checkpoints (resumable), results and provenance go.
    * ``wise_ft``: also trace test accuracy along the WiSE-FT weight interpolation.
    """

    method: str = "mmft"
    dataset: str = "glyphs"
    root: str | None = None
    shots: int | None = 16
    seed: int = 42
    model: str = "embedded"
    pretrained: str | None = None
    captioner: str = "embedded"
    caption_store: str | None = None
    make_captions: bool = False
    characteristics: tuple[str, ...] | None = None
    words: int = 50
    template: str | None = None
    add_class_prefix: bool = True
    epochs: int = 50
    lr: float = 1e-5
    wd: float = 1e-4
    batch_size: int = 64
    w: float = 0.1
    eval_every: int = 1
    val_fraction: float = 0.1
    amp: bool = True
    device: str | None = None
    num_workers: int = 0
    eval_batch_size: int = 256
    output_dir: str | None = None
    wise_ft: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        check_method(self.method)
        if self.characteristics is not None:
            self.characteristics = tuple(self.characteristics)
        for name in ("root", "caption_store", "output_dir"):
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                setattr(self, name, os.fspath(value))
        self._check_ranges()

    def _check_ranges(self) -> None:
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "eval_every": self.eval_every,
                    "eval_batch_size": self.eval_batch_size, "words": self.words}
        bad = {name: value for name, value in positive.items() if not (isinstance(value, int) and value >= 1)}
        if self.shots is not None and not (isinstance(self.shots, int) and self.shots >= 1):
            bad["shots"] = self.shots
        if bad:
            raise InvalidInputError(f"these settings must be whole numbers ≥ 1 (shots may also be None): {bad}")
        if not self.lr > 0:
            raise InvalidInputError(f"lr must be > 0; got {self.lr}")
        if not self.wd >= 0:
            raise InvalidInputError(f"wd (weight decay) must be ≥ 0; got {self.wd}")
        if not 0.0 <= self.w <= 1.0:
            raise InvalidInputError(f"w (weight of the supervised loss) must lie in [0, 1]; got {self.w}")
        if not 0.0 < self.val_fraction < 1.0:
            raise InvalidInputError(f"val_fraction must lie strictly between 0 and 1; got {self.val_fraction}")
        if self.num_workers < 0:
            raise InvalidInputError(f"num_workers must be ≥ 0; got {self.num_workers}")

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON-able values."""
        data = asdict(self)
        data["characteristics"] = list(self.characteristics) if self.characteristics is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """The config saved by :meth:`to_dict`; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"unknown TrainConfig fields {unknown}; known: {sorted(known)}")
        return cls(**data)
