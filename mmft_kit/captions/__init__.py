"""Synthetic captions (MMFT): prompts, caption backends, the caption store, captioning a data set,
and the training text made from the captions."""

from .backends import Captioner, HFCaptioner, LabelCaptioner, load_captioner
from .generate import CaptionReport, caption_dataset, parse_shard, store_settings
from .prompts import PromptLibrary, build_prompt, default_characteristics, load_library, resolve_template
from .store import CaptionStore, image_digest
from .training_text import (
    CaptionedDataset,
    MissingCaptionsError,
    TruncationReport,
    captions_for_dataset,
    token_count,
    training_text,
    truncation_report,
)

__all__ = [
    "CaptionReport", "CaptionStore", "CaptionedDataset", "Captioner", "HFCaptioner", "LabelCaptioner",
    "MissingCaptionsError", "PromptLibrary", "TruncationReport", "build_prompt", "caption_dataset",
    "captions_for_dataset", "default_characteristics", "image_digest", "load_captioner", "load_library",
    "parse_shard", "resolve_template", "store_settings", "token_count", "training_text", "truncation_report",
]
