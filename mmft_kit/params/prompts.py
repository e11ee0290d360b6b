"""The parameters of scoring a caption prompt (:func:`mmft_kit.train.prompt_score.score_prompt`) and of ranking
many (``python -m mmft_kit prompts rank``).

The command line, notebook 01's leaderboard and ``benchmarks/prompt_score.py`` derive their options from these
models (:func:`~mmft_kit.params.base.add_arguments`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from .base import Params, redefault
from .captions import CaptionerSettings
from .fields import CaptionerParams, ClipParams, DataParams, FewShotParams

#: Joins the characteristics of one set on the command line: ``visual+shape+texture``.
SET_JOINER = "+"


class PromptScoreParams(CaptionerSettings, FewShotParams, ClipParams, CaptionerParams, DataParams):
    """One prompt's cheap score: caption ``shots`` images per class, ``draws`` times, and classify the
    validation images with the caption prototypes of the frozen start CLIP."""

    what = "prompt score settings"
    fix = "Fix them where they were given (python -m mmft_kit prompts rank --help lists every option)."

    characteristics: list[str] | None = Field(None, min_length=1,
                                              description="characteristics captioned per image and averaged in the "
                                                          "prototypes (None: the library's defaults, visual shape "
                                                          "texture)")
    caption_batch_size: int | None = redefault(CaptionerSettings, "caption_batch_size", 128)
    draws: int = Field(3, ge=1, le=50, description="few-shot draws (seeds seed, seed+1, ...) the score is averaged "
                                                   "over; its standard error is over these")

    @classmethod
    def take(cls, params: Params, **changes: Any) -> "PromptScoreParams":
        """The score settings ``params`` (a notebook's parameters) share with this model, with ``changes``. Its
        caption store is left out: each template's captions go to their own default store."""
        shared = {name: getattr(params, name) for name in cls.model_fields
                  if name in type(params).model_fields and name != "caption_store"}
        return cls(**{**shared, **changes})


class PromptRankJob(PromptScoreParams):
    """``python -m mmft_kit prompts rank``: score every template × characteristic set, resumably."""

    what = "prompt ranking settings"
    fix = "Fix them on the command line (python -m mmft_kit prompts rank --help)."

    templates: list[str] = Field(["differentiate"], min_length=1,
                                 description="templates to rank: names from templates.json, template strings, or "
                                             "files holding one")
    characteristic_sets: list[str] = Field(["visual", "shape", "texture", "visual+shape+texture"], min_length=1,
                                           description="characteristic sets to rank, each one word or words joined "
                                                       "by '+' (visual+shape+texture: three captions per image)")
    rank_dir: str = Field("runs/prompts/rank", description="folder of the ranking (rank.csv, rank.md); finished rows "
                                                      "are kept and never computed again")
    rerun: bool = Field(False, description="score every row again, finished ones too")

    @field_validator("characteristic_sets")
    @classmethod
    def _sets_have_words(cls, sets: list[str]) -> list[str]:
        for text in sets:
            if not all(part.strip() for part in text.split(SET_JOINER)):
                raise ValueError(f"{text!r} has an empty characteristic; join words with '+', e.g. visual+shape")
        return sets

    def characteristic_lists(self) -> list[list[str]]:
        """Each characteristic set as a list of words."""
        return [[part.strip() for part in text.split(SET_JOINER)] for text in self.characteristic_sets]
