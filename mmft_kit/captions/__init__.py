"""Synthetic captions (MMFT): prompts, caption back ends (in-process, served, label), the caption store,
captioning a data set, export for open_clip, and the training text made from the captions.

The kit's own model names (``embedded``) are resolved above this package: load a captioner by any
name with :func:`mmft_kit.models.load_captioner`.
"""

from .backends import HFCaptioner
from .base import CaptionRequest, CaptionResult, Captioner, LabelCaptioner
from .factory import make_captioner
from .generate import (
    CaptionReport,
    caption_dataset,
    default_store_path,
    parse_shard,
    read_skipped,
    resolve_shard,
    skipped_path,
    store_settings,
)
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
    "CaptionReport", "CaptionRequest", "CaptionResult", "CaptionStore", "CaptionedDataset", "Captioner",
    "HFCaptioner", "LabelCaptioner", "MissingCaptionsError", "PromptLibrary", "TruncationReport", "build_prompt",
    "caption_dataset", "captions_for_dataset", "default_characteristics", "default_store_path", "image_digest",
    "load_library", "make_captioner", "parse_shard", "read_skipped", "resolve_shard", "resolve_template",
    "skipped_path", "store_settings", "token_count", "training_text", "truncation_report",
]
