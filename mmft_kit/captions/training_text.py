"""From stored captions to training text: captions per image, a captioned data set, truncation check."""

from __future__ import annotations

import os
import shlex
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InvalidInputError
from ..params.fields import PAPER_WORDS
from ..text import class_prompt, with_class_prefix
from ..data.items import dataset_image, dataset_info, dataset_label
from .generate import UNREADABLE_IMAGE_ERRORS
from .prompts import build_prompt, default_characteristics
from .store import CaptionStore, image_digest


class MissingCaptionsError(InvalidInputError):
    """Some images of a data set have no caption in the store."""


def captions_for_dataset(
    dataset, store: CaptionStore | str | os.PathLike, characteristics: Sequence[str] | None = None
) -> list[list[str]]:
    """The captions of each image of ``dataset`` (one per characteristic), looked up in ``store``.

    Prompts are rebuilt with the store's template and words, so an image's captions are found by
    its content and class, whatever its index. ``characteristics=None``: all the store holds.
    Raises MissingCaptionsError, naming how many images lack captions and the command that makes them.
    """
    store = store if isinstance(store, CaptionStore) else CaptionStore(store)
    characteristics = list(store.characteristics() if characteristics is None else characteristics)
    if not characteristics:
        hint = _make_hint(dataset, store, default_characteristics())
        raise MissingCaptionsError(f"caption store {store.path} holds no captions; {hint}")
    template, words = store.settings.get("template"), store.settings.get("words")
    classnames, domain = dataset_info(dataset)
    result, missing = [], 0
    for index in range(len(dataset)):
        try:
            digest = image_digest(dataset_image(dataset, index))
        except UNREADABLE_IMAGE_ERRORS:
            digest = ""  # skipped when captioning: counted as missing
        classname = classnames[dataset_label(dataset, index)]
        found = [store.get(digest, build_prompt(classname, domain, c, words, template)) for c in characteristics]
        missing += any(caption is None for caption in found)
        result.append([caption for caption in found if caption is not None])
    if missing:
        raise MissingCaptionsError(
            f"{missing} of {len(dataset)} images lack captions for {characteristics} in {store.path}; "
            + _make_hint(dataset, store, characteristics)
        )
    return result


def _make_hint(dataset, store: CaptionStore, characteristics: Sequence[str]) -> str:
    settings = store.settings
    captioner = "label" if settings.get("backend") == "label" else settings.get("model", "MODEL")
    name = getattr(dataset, "name", None) or getattr(getattr(dataset, "dataset", None), "name", None) or "DATASET"
    command = (
        f"python -m mmft_kit caption --dataset {shlex.quote(str(name))} --store {shlex.quote(str(store.path))} "
        f"--captioner {shlex.quote(str(captioner))} --characteristics {' '.join(characteristics)} "
        f"--words {settings.get('words', PAPER_WORDS)}"
    )
    return f"make them with: {command} (with the same --split and --template as before)"


def training_text(caption: str, classname: str, add_class_prefix: bool = True) -> str:
    """The text an image trains with: ``"a photo of a {class}. {caption}"`` (the authors' --add_class_template).

    A caption that already is the class prompt (the label captioner's) is not prefixed twice.
    """
    if not add_class_prefix or caption.strip() == class_prompt(classname):
        return caption.strip()
    return with_class_prefix(caption, classname)


class CaptionedDataset(Dataset):
    """Yields ``(image, text, label)``: the text is one of the image's captions, drawn afresh at each visit.

    ``seed=None`` draws with torch's global generator (fresh at every visit; reproducible through
    :func:`mmft_kit.runtime.seed_everything` and a DataLoader generator). ``seed=int`` makes the
    draw a function of (seed, epoch, index): call :meth:`set_epoch` at the start of each epoch.
    ``transform`` is applied to the PIL image; without it the base data set's own item is used.
    """

    def __init__(
        self,
        base_dataset,
        captions_per_index: Sequence[Sequence[str]],
        transform: Callable | None = None,
        seed: int | None = None,
        add_class_prefix: bool = True,
    ) -> None:
        if len(captions_per_index) != len(base_dataset):
            raise InvalidInputError(
                f"{len(captions_per_index)} caption lists for a data set of {len(base_dataset)} images"
            )
        empty = [i for i, captions in enumerate(captions_per_index) if not captions]
        if empty:
            raise InvalidInputError(f"{len(empty)} images have no caption (first: index {empty[0]})")
        self.base = base_dataset
        self.captions = [list(captions) for captions in captions_per_index]
        self.transform = transform
        self.seed = seed
        self.add_class_prefix = add_class_prefix
        self.classnames = dataset_info(base_dataset)[0]
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose captions ``seed=int`` draws."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def texts(self, index: int) -> list[str]:
        """Every training text of the image at ``index``."""
        classname = self.classnames[dataset_label(self.base, index)]
        return [training_text(c, classname, self.add_class_prefix) for c in self.captions[index]]

    def all_texts(self) -> list[str]:
        """Every training text of every image (for :func:`truncation_report`)."""
        return [text for index in range(len(self)) for text in self.texts(index)]

    def _draw(self, index: int) -> int:
        count = len(self.captions[index])
        if self.seed is None:
            return int(torch.randint(count, ()).item())
        return int(np.random.default_rng([self.seed, self.epoch, index]).integers(count))

    def __getitem__(self, index: int):
        if self.transform is not None:
            image = self.transform(dataset_image(self.base, index))
        else:
            image = self.base[index][0]
        label = dataset_label(self.base, index)
        caption = self.captions[index][self._draw(index)]
        return image, training_text(caption, self.classnames[label], self.add_class_prefix), label


@dataclass(frozen=True)
class TruncationReport:
    """How many texts exceed a text encoder's context and lose their end."""

    total: int
    truncated: int
    context_length: int
    longest: int

    @property
    def share(self) -> float:
        return self.truncated / self.total if self.total else 0.0


def token_count(text: str, tokenizer) -> int:
    """Tokens of ``text`` under an open_clip tokenizer, start and end tokens included, without truncation."""
    if hasattr(tokenizer, "encode") and hasattr(tokenizer, "sot_token_id"):  # open_clip's CLIP BPE
        return len(tokenizer.encode(text)) + 2
    inner = getattr(tokenizer, "tokenizer", None)  # open_clip's HFTokenizer wraps a transformers one
    if inner is not None:
        clean = getattr(tokenizer, "clean_fn", lambda t: t)
        return len(inner(clean(text))["input_ids"])
    raise InvalidInputError(f"cannot count tokens with {type(tokenizer).__name__}: give an open_clip tokenizer")


def truncation_report(
    texts: Sequence[str], tokenizer, context_length: int | None = None, warn_above: float = 0.10
) -> TruncationReport:
    """Count texts longer than the context (default: the tokenizer's); warn when their share exceeds ``warn_above``."""
    context_length = context_length or getattr(tokenizer, "context_length", None)
    if not context_length:
        raise InvalidInputError("the tokenizer has no context_length; pass context_length=")
    counts = [token_count(text, tokenizer) for text in texts]
    report = TruncationReport(
        total=len(counts), truncated=sum(n > context_length for n in counts), context_length=int(context_length),
        longest=max(counts, default=0),
    )
    if report.share > warn_above:
        warnings.warn(
            f"{report.truncated} of {report.total} texts ({report.share:.0%}) exceed the text encoder's context of "
            f"{context_length} tokens (longest {report.longest}) and will be cut; ask for fewer words (--words)",
            stacklevel=2,
        )
    return report
