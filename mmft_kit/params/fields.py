"""Parameter groups the notebooks, the trainer's config and the command lines share.

Each field is declared here once — type, range, default, meaning — and a notebook's parameters,
:class:`mmft_kit.train.TrainConfig` and the benchmark's options inherit the groups they need.
Defaults are the kit's (chosen on validation data for the embedded models, see
``benchmarks/few_shot.py --tune``); the paper's settings are :data:`PAPER_SETTINGS`.
"""

from __future__ import annotations

import importlib.util
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from ..method import check_config_method
from .base import Params

#: The MMFT authors' optimisation on ViT-B/32 (AdamW, cosine per step to 0 without warm-up, 50 epochs).
PAPER_SETTINGS = {"lr": 1e-5, "weight_decay": 1e-4, "batch_size": 64, "epochs": 50}
#: The paper's word budget per caption: the default of :attr:`CaptionerParams.words` and of every caption function.
PAPER_WORDS = 50

Seed = Annotated[int, Field(ge=0)]


class DataParams(Params):
    """Which data set."""

    dataset: str = Field("glyphs", description="a registry data set (glyphs, critters, tiles, badges, digits, "
                                                 "the paper's benchmarks) or an image folder")
    root: str | None = Field(None, description="folder holding the paper's benchmarks (DTD, Flowers102, ...); "
                                                "None for the kit's own data")


class ClipParams(Params):
    """Which CLIP."""

    clip: str = Field("embedded", description="the CLIP: 'embedded' (the kit's), 'embedded:ci' (tiny), "
                                              "an open_clip name, or a model folder")
    pretrained: str | None = Field(None, description="weights of an open_clip model: a tag such as 'openai', "
                                                     "or a checkpoint file")


class CaptionerParams(Params):
    """Who writes the captions, and how they are asked for."""

    captioner: str = Field("embedded", description="who writes captions: 'embedded' (the kit's VLM), "
                                                   "'embedded:ci', 'label', a model folder or a hub id")
    template: str | None = Field(None, description="the caption template: None for the paper's, "
                                                   "a template string or a file holding one")
    words: int = Field(PAPER_WORDS, ge=1, le=500, description="the word budget asked for in the prompt")
    domain: str | None = Field(None, description="the prompt's {domain}, what kind of photos these are (e.g. "
                                                 "'pets', 'satellite'); None: the data set's own ('general objects' "
                                                 "for an image folder)")
    caption_store: str | None = Field(None, description="JSONL caption store; None: for an image folder "
                                                        "runs/captions/<folder name>--<captioner>.jsonl, else the "
                                                        "kit's shared store for this data set and captioner")


class FewShotParams(Params):
    """The few-shot draw."""

    shots: int | None = Field(4, ge=1, description="training images per class (None: every train image)")


class SeedParams(Params):
    """One run's seed."""

    seed: Seed = Field(0, description="the seed of the few-shot draw, the samples and the run")


#: The experiment loggers ``report_to`` may name, each with the package it needs (:mod:`mmft_kit.run_logs`).
REPORTERS: dict[str, str] = {"tensorboard": "tensorboard", "wandb": "wandb"}


class ReportParams(Params):
    """Experiment logs besides the JSON record (:mod:`mmft_kit.run_logs`)."""

    report_to: list[Literal["tensorboard", "wandb"]] = Field(
        [], description="experiment loggers of each epoch's losses, metrics and learning rate: tensorboard, "
                        "wandb (offline run); none by default")
    log_dir: str | None = Field(None, description="where report_to writes, a folder per run (None: output_dir/logs, "
                                                  "else the notebook's output folder/logs, else runs/logs)")

    @field_validator("report_to")
    @classmethod
    def _loggers_are_installed(cls, names: list[str]) -> list[str]:
        for name in names:
            if importlib.util.find_spec(REPORTERS[name]) is None:
                raise ValueError(f"{name} is not installed: pip install {REPORTERS[name]} "
                                 f"(or the kit's extra: pip install 'mmft_kit[{name}]')")
        return names


class DeviceParams(Params):
    """Where torch computes."""

    device: str | None = Field(None, description="torch device (None: CUDA when present, else CPU)")


class RunParams(ReportParams, DeviceParams, SeedParams):
    """What every run config has: the method, the seed, where it runs and where its outputs go.

    ``method`` is checked against :data:`mmft_kit.method.METHODS`: a config serves the methods
    registered with it (or with a class it derives from).
    """

    method: str = Field(description="what to run; see mmft_kit.methods.METHODS")
    progress: bool = Field(True, description="tqdm bars (their look: tqdm's own TQDM_* settings)")
    output_dir: str | None = Field(None, description="checkpoints (resumable), results and provenance go here")
    eval_batch_size: int = Field(256, ge=1, description="samples per evaluation step")

    @field_validator("method")
    @classmethod
    def _method_runs_with_this_config(cls, name: str) -> str:
        return check_config_method(cls, name)

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON-able values."""
        return self.model_dump()


class SeedsParams(Params):
    """Several runs' seeds."""

    seeds: list[Seed] = Field([0], min_length=1, description="one few-shot draw and run per seed")


class OptimParams(Params):
    """The optimiser's settings."""

    epochs: int = Field(12, ge=1, description="fine-tuning epochs (the best validation epoch is kept)")
    lr: float = Field(3e-4, gt=0, description="learning rate (best on validation data for the embedded CLIP; "
                                              "the paper: 1e-5 on ViT-B/32)")
    batch_size: int = Field(32, ge=1, description="images per training step")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay of weights (not of gains, biases, "
                                                         "the logit scale)")
