"""What a captioner is: :class:`Captioner` (caption (image, prompt) pairs, in batches or as a stream of
requests), the request and result records, and :class:`LabelCaptioner` (writes "a photo of a {class}.").

The back ends build on this module (:mod:`.backends`: transformers models; :mod:`.served`: OpenAI-compatible
servers); :mod:`.factory` picks one by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from PIL import Image

from ..errors import InvalidInputError
from ..text import CLASS_TEMPLATE, class_prompt


@dataclass
class CaptionRequest:
    """One caption to make: an image, its prompt, its class name, and the caller's ``tag`` (returned as is)."""

    image: Image.Image
    prompt: str
    classname: str
    tag: Any = None


@dataclass
class CaptionResult:
    """The answer to one request: the caption, or ``None`` and why it could not be made."""

    request: CaptionRequest
    caption: str | None
    error: str = ""


class Captioner(ABC):
    """One interface for every caption backend."""

    #: A short name for reports.
    name: str
    #: How many (image, prompt) pairs :func:`~mmft_kit.captions.caption_dataset` hands over at once.
    batch_size: int

    @property
    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything that decides the captions (model, revision, generation settings): part of the store key."""

    @abstractmethod
    def caption(
        self, images: Sequence[Image.Image], prompts: Sequence[str], classnames: Sequence[str] | None = None
    ) -> list[str]:
        """One caption per (image, prompt); ``classnames`` are the images' classes (used by the label backend)."""

    def stream(self, requests: Iterable[CaptionRequest]) -> Iterator[list[CaptionResult]]:
        """Caption ``requests`` (read lazily), yielding results in groups as soon as they are made.

        This default runs :meth:`caption` on ``batch_size`` requests at a time and yields each
        batch; an empty answer becomes a failed result. Served back ends override it to keep many
        requests in flight and yield each answer as it arrives.
        """
        batch: list[CaptionRequest] = []
        for request in requests:
            batch.append(request)
            if len(batch) == self.batch_size:
                yield self._run_batch(batch)
                batch = []
        if batch:
            yield self._run_batch(batch)

    def _run_batch(self, batch: list[CaptionRequest]) -> list[CaptionResult]:
        captions = self.caption([r.image for r in batch], [r.prompt for r in batch], [r.classname for r in batch])
        if len(captions) != len(batch):
            raise InvalidInputError(f"captioner {self.name!r} gave {len(captions)} captions for {len(batch)} prompts")
        return [
            CaptionResult(r, c.strip()) if c and c.strip() else CaptionResult(r, None, "empty caption from the model")
            for r, c in zip(batch, captions)
        ]


class LabelCaptioner(Captioner):
    """Writes "a photo of a {class}." whatever the image and prompt (FLYP's training text)."""

    name = "label"
    batch_size = 1024

    @property
    def settings(self) -> dict[str, Any]:
        return {"backend": "label", "text": CLASS_TEMPLATE}

    def caption(
        self, images: Sequence[Image.Image], prompts: Sequence[str], classnames: Sequence[str] | None = None
    ) -> list[str]:
        if classnames is None or len(classnames) != len(prompts):
            raise InvalidInputError("the label captioner needs one class name per prompt (classnames=...)")
        return [class_prompt(name) for name in classnames]
