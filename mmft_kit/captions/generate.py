"""Caption a data set into a store: batched, resumable, shardable across processes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

from PIL import Image
from torch.utils.data import Subset
from tqdm.auto import tqdm

from ..errors import InvalidInputError, MMFTKitError
from ..runtime import bar_options
from .backends import Captioner
from .prompts import build_prompt, default_characteristics, resolve_template
from .store import CaptionStore, image_digest

# What a broken image file raises in PIL (UnidentifiedImageError and truncation are OSErrors).
UNREADABLE_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


# -- reading data sets ------------------------------------------------------------------------
def dataset_image(dataset, index: int) -> Image.Image:
    """The untransformed PIL image at ``index``: ``.image(i)`` when the data set has it, else the item
    of the data set under a ``Subset``, else the item itself."""
    if hasattr(dataset, "image"):
        return dataset.image(index)
    if isinstance(dataset, Subset):
        return dataset_image(dataset.dataset, dataset.indices[index])
    item = dataset[index][0]
    if not isinstance(item, Image.Image):
        raise InvalidInputError(
            f"captioning needs PIL images, but the data set's items hold {type(item).__name__}: "
            "load it without a transform (or give it an .image(index) method)"
        )
    return item


def dataset_label(dataset, index: int) -> int:
    """The label at ``index`` (from ``.targets`` when present, without loading the image)."""
    targets = getattr(dataset, "targets", None)
    if targets is not None:
        return int(targets[index])
    if isinstance(dataset, Subset):
        return dataset_label(dataset.dataset, dataset.indices[index])
    return int(dataset[index][1])


def dataset_info(dataset) -> tuple[list[str], str]:
    """The data set's class names and domain (the words a caption prompt uses for its kind of photo)."""
    while not hasattr(dataset, "classnames") and isinstance(dataset, Subset):
        dataset = dataset.dataset
    classnames, domain = getattr(dataset, "classnames", None), getattr(dataset, "domain", None)
    if not classnames or not domain:
        raise InvalidInputError(
            "captioning needs a data set with .classnames and .domain (as mmft_kit.data.get_dataset returns); "
            f"{type(dataset).__name__} lacks them"
        )
    return list(classnames), str(domain)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` → ``(i, n)`` with ``0 <= i < n``: this process takes every n-th image from the i-th."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise InvalidInputError(f"shard must look like i/n (e.g. 0/4); got {text!r}") from None
    if not 0 <= index < count:
        raise InvalidInputError(f"shard {text!r}: need 0 <= i < n, so with n={count} give i from 0 to {count - 1}")
    return index, count


# -- captioning -------------------------------------------------------------------------------
def store_settings(captioner: Captioner, template: str, words: int) -> dict[str, Any]:
    """The settings a caption store is made with: the captioner's, the prompt template and the words."""
    return {**captioner.settings, "template": template, "words": int(words)}


@dataclass
class CaptionReport:
    """What a captioning run did, counted in images (``captions``: caption records written)."""

    captioned: int = 0
    reused: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    captions: int = 0
    store: str = ""

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def summary(self) -> str:
        """One line for people."""
        text = (
            f"captioned {self.captioned} images ({self.captions} captions), reused {self.reused} from the store, "
            f"skipped {sum(self.skipped.values())}"
        )
        if self.skipped:
            text += " (" + "; ".join(f"{reason}: {n}" for reason, n in sorted(self.skipped.items())) + ")"
        return text + (f" -> {self.store}" if self.store else "")


@dataclass
class _Request:
    index: int
    image: Image.Image
    record: dict


def caption_dataset(
    dataset,
    captioner: Captioner,
    store: CaptionStore | str | os.PathLike,
    characteristics: Sequence[str] | None = None,
    words: int = 50,
    template: str | os.PathLike | None = None,
    limit: int | None = None,
    shard: tuple[int, int] | str | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> CaptionReport:
    """Caption every image of ``dataset`` once per characteristic, skipping what the store holds.

    Images are read in order (the first ``limit``, then every n-th from the i-th for ``shard=(i, n)``);
    their missing captions are made ``captioner.batch_size`` at a time, and each batch is written
    to the store as soon as it is done, so an interrupted run loses at most one batch. An image
    that cannot be read, or whose model answer is empty, is skipped and counted with the reason.
    """
    characteristics = tuple(dict.fromkeys(default_characteristics() if characteristics is None else characteristics))
    if not characteristics or not all(isinstance(c, str) and c.strip() for c in characteristics):
        raise InvalidInputError(f"give one or more characteristics (e.g. visual shape texture); got {characteristics}")
    if limit is not None and limit < 0:
        raise InvalidInputError(f"limit must be >= 0; got {limit}")
    template = resolve_template(template)
    settings = store_settings(captioner, template, words)
    if isinstance(store, CaptionStore):
        store.require(settings)
    else:
        store = CaptionStore(store, settings=settings, overwrite=overwrite)
    classnames, domain = dataset_info(dataset)
    indices = list(range(len(dataset)))[: limit if limit is not None else None]
    if shard is not None:
        first, count = parse_shard(shard if isinstance(shard, str) else "/".join(map(str, shard)))
        indices = indices[first::count]

    report = CaptionReport(store=str(store.path))
    outstanding: dict[int, int] = {}  # image index -> captions still to come
    failed: dict[int, str] = {}
    pending: list[_Request] = []
    queued: set[tuple[str, str]] = set()

    def settle(index: int) -> None:
        if index in failed:
            report.skip(failed.pop(index))
        else:
            report.captioned += 1

    def run(batch: list[_Request]) -> None:
        captions = captioner.caption(
            [r.image for r in batch], [r.record["prompt"] for r in batch], [r.record["class"] for r in batch]
        )
        if len(captions) != len(batch):
            raise InvalidInputError(
                f"captioner {captioner.name!r} gave {len(captions)} captions for {len(batch)} prompts"
            )
        done = []
        for request, caption in zip(batch, captions):
            if caption.strip():
                done.append({**request.record, "caption": caption.strip()})
            else:
                failed.setdefault(request.index, "empty caption from the model")
        store.add(done)
        report.captions += len(done)
        for request in batch:
            outstanding[request.index] -= 1
            if outstanding[request.index] == 0:
                del outstanding[request.index]
                settle(request.index)

    for index in tqdm(indices, desc="captioning", unit="img", **bar_options(progress)):
        try:
            image = dataset_image(dataset, index)
            digest = image_digest(image)
        except MMFTKitError:
            raise
        except UNREADABLE_IMAGE_ERRORS as exc:
            report.skip(f"unreadable image ({type(exc).__name__})")
            continue
        classname = classnames[dataset_label(dataset, index)]
        requests = []
        for characteristic in characteristics:
            prompt = build_prompt(classname, domain, characteristic, words, template)
            if (digest, prompt) in store or (digest, prompt) in queued:
                continue
            queued.add((digest, prompt))
            record = {"image": digest, "index": index, "class": classname, "characteristic": characteristic,
                      "prompt": prompt}
            requests.append(_Request(index, image, record))
        if not requests:
            report.reused += 1
            continue
        outstanding[index] = len(requests)
        pending.extend(requests)
        while len(pending) >= captioner.batch_size:
            run(pending[: captioner.batch_size])
            del pending[: captioner.batch_size]
    if pending:
        run(pending)
    return report
