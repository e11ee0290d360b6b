"""A captioner by its spelling: :func:`make_captioner` (``"label"``, ``"openai:MODEL"``, a hub id or a folder)."""

from __future__ import annotations

import inspect
import os
from typing import Any

from .backends import HFCaptioner
from .base import Captioner, LabelCaptioner
from .served import OpenAICaptioner


def make_captioner(spec: str | os.PathLike, **kwargs: Any) -> Captioner:
    """A captioner from its spelling: ``"label"``, ``"openai:MODEL"``, a transformers hub id or a model folder.

    Args:
        spec: which captioner. ``openai:MODEL`` asks the served ``MODEL`` at ``base_url`` (or
            ``$OPENAI_BASE_URL``) through the openai client.
        **kwargs: settings of the chosen back end (:class:`HFCaptioner`, or
            :class:`~mmft_kit.captions.served.OpenAICaptioner`); those it does not take are ignored, so
            one command line can carry the settings of every back end. ``None`` values mean "default".

    Returns:
        The captioner.
    """
    spec = str(spec)
    if spec == "label":
        return LabelCaptioner()
    if spec.startswith("openai:"):
        return _construct(OpenAICaptioner, kwargs, model=spec.removeprefix("openai:"))
    return _construct(HFCaptioner, kwargs, model=spec)


def _construct(cls: type, kwargs: dict[str, Any], **fixed: Any) -> Captioner:
    accepted = inspect.signature(cls.__init__).parameters
    chosen = {k: v for k, v in kwargs.items() if k in accepted and v is not None}
    return cls(**fixed, **chosen)
