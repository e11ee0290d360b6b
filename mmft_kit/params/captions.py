"""The parameters of captioning a data set (``python -m mmft_kit caption``) and of exporting a caption store.

The command lines are derived from these models (:func:`~mmft_kit.params.base.add_arguments`). The
back ends' settings default to ``None``: the back end's own default (temperature 0.2 as in the paper,
the model's generation config, ...), so no value is declared twice.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import Params
from .fields import CaptionerParams, DataParams, DeviceParams, SeedParams

#: What ``caption export`` can write.
EXPORT_FORMATS = ("parquet", "csv", "wds")


class SplitParams(Params):
    """Which split of the data set."""

    split: str = Field("train", description="data set split")


class CaptionerSettings(DeviceParams, SeedParams):
    """How the captioner runs: in-process models (batch, device, dtype) and served ones (endpoint, requests)."""

    caption_batch_size: int | None = Field(None, ge=1, description="captions generated at once by an in-process "
                                                                    "model (None: the back end's, 16)")
    temperature: float | None = Field(None, ge=0, description="sampling temperature; 0: greedy (None: the back "
                                                              "end's, 0.2 as in the paper)")
    max_new_tokens: int | None = Field(None, ge=1, description="longest caption in tokens (None: the model's "
                                                               "generation config, else 256)")
    dtype: Literal["float32", "float16", "bfloat16"] | None = Field(
        None, description="model dtype (None: bfloat16 on CUDA, else float32)")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint of a served captioner, e.g. "
                                                   "http://localhost:8000/v1 (None: $OPENAI_BASE_URL, else OpenAI)")
    api_key_env: str | None = Field(None, description="environment variable holding the API key (None: "
                                                      "OPENAI_API_KEY; local servers need none)")
    concurrency: int | None = Field(None, ge=1, description="requests in flight to a served captioner (None: 8)")
    timeout: float | None = Field(None, gt=0, description="seconds per request (None: 60)")
    max_retries: int | None = Field(None, ge=0, description="resends of a request that meets a 429, 5xx, time-out "
                                                            "or bad reply (None: 5)")

    def captioner_options(self) -> dict:
        """These settings as :func:`mmft_kit.models.load_captioner` takes them (None: the back end's default)."""
        options = {name: getattr(self, name) for name in CaptionerSettings.model_fields}
        options["batch_size"] = options.pop("caption_batch_size")
        return options


class CaptionJob(CaptionerSettings, CaptionerParams, SplitParams, DataParams):
    """``python -m mmft_kit caption``: caption a data set's images into a caption store."""

    what = "caption settings"
    fix = "Fix them on the command line (python -m mmft_kit caption --help)."

    characteristics: list[str] | None = Field(None, description="characteristics to describe, one caption each "
                                                                "(None: the kit's, from templates.json)")
    limit: int | None = Field(None, ge=1, description="caption only the first N images")
    shard: str | None = Field(None, description="i/n: take every n-th image from the i-th (0-based); shards can "
                                                "share one store (None under torchrun: RANK/WORLD_SIZE)")
    strict: bool = Field(False, description="stop at the first image that cannot be read or captioned (else skip "
                                            "and list it)")
    overwrite: bool = Field(False, description="start the store afresh if it was made with other settings")
    quiet: bool = Field(False, description="no progress bar")


class CaptionExport(SplitParams):
    """``python -m mmft_kit caption export``: write a caption store in other formats."""

    what = "caption export settings"
    fix = "Fix them on the command line (python -m mmft_kit caption export --help)."

    store: str = Field(description="the caption store (JSONL) to export")
    images_of: str | None = Field(None, description="the data set the captions were made for (csv and wds need "
                                                    "its images)")
    root: str | None = DataParams.model_fields["root"]
    to: str = Field(description="output folder")
    formats: list[Literal["parquet", "csv", "wds"]] = Field(list(EXPORT_FORMATS), min_length=1,
                                                            description="what to write")
    class_prefix: bool = Field(True, description="titles 'a photo of a {class}. {caption}' (else the bare captions)")
    shard_size: int = Field(1000, ge=1, description="samples per WebDataset shard")
    csv_separator: str = Field("\t", description="the CSV's column separator: one character, or 'tab' (tab is "
                                                 "open_clip's --csv-separator default; pandas reads it with sep='\\t')")

    @field_validator("csv_separator", mode="before")
    @classmethod
    def _one_character(cls, value: str) -> str:
        """``tab`` (or ``\\t``) for a tab; otherwise exactly one character."""
        separator = "\t" if value in ("tab", "\\t") else value
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"give one character, or 'tab'; got {value!r}")
        return separator
