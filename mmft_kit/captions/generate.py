"""Caption a data set into a store: streamed, resumable, shared by many processes, past bad images.

Every image is read, converted for the model (:func:`mmft_kit.data.to_rgb`) and asked for once
per characteristic it lacks; each caption is written to the store as soon as the captioner hands
it back, so a killed run loses at most the requests in flight. An image that cannot be read, is
too small to caption, or whose caption cannot be had (refused, failed past the retries) is skipped:
counted in the report and listed with its reason in ``<store stem>.skipped.jsonl`` beside the store.
``strict=True`` stops at the first such image instead.

Processes share one store by sharding the images: ``shard=(i, n)`` takes every n-th image from the
i-th; under ``torchrun`` each process takes its rank's share without being told.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from PIL import Image
from tqdm.auto import tqdm

from ..data.images import to_rgb
from ..data.items import dataset_image, dataset_info, dataset_label, dataset_name, item_path
from ..errors import InvalidInputError, MMFTKitError, UnreadableImageError
from ..params.fields import PAPER_WORDS
from ..runtime import bar_options
from .base import CaptionRequest, Captioner
from .prompts import build_prompt, default_characteristics, resolve_template
from .store import CaptionStore, append_jsonl, image_digest
from .world_check import WorldCheck

#: What a broken image raises in PIL or a data set's own loader (truncation is an OSError).
UNREADABLE_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
#: Images with a side shorter than this many pixels are skipped (nothing to describe; some models reject them).
MIN_SIDE = 8


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` → ``(i, n)`` with ``0 <= i < n``: this process takes every n-th image from the i-th."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise InvalidInputError(f"shard must look like i/n (e.g. 0/4); got {text!r}") from None
    if not 0 <= index < count:
        raise InvalidInputError(f"shard {text!r}: need 0 <= i < n, so with n={count} give i from 0 to {count - 1}")
    return index, count


def resolve_shard(shard: tuple[int, int] | str | None) -> tuple[int, int] | None:
    """The shard this process captions: ``shard`` when given, else its rank under ``torchrun``, else None."""
    if shard is not None:
        return parse_shard(shard if isinstance(shard, str) else "/".join(map(str, shard)))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and "RANK" in os.environ:
        return parse_shard(f"{os.environ['RANK']}/{world}")
    return None


def store_settings(captioner: Captioner, template: str, words: int) -> dict[str, Any]:
    """The settings a caption store is made with: the captioner's, the prompt template and the words."""
    return {**captioner.settings, "template": template, "words": int(words)}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_") or "x"


def default_store_path(
    dataset: str, captioner: str, folder: str | os.PathLike, words: int = PAPER_WORDS, template: str | None = None,
    build: str | None = None,
) -> Path:
    """Where the captions of ``dataset`` by ``captioner`` are kept when no store is named.

    Args:
        dataset: the data set's name (as given to :func:`mmft_kit.data.get_dataset`).
        captioner: the captioner's spelling (``embedded``, ``label``, ``openai:MODEL``, a hub id or folder).
        folder: the folder of default stores (the kit uses ``<cache>/captions``).
        words: words asked per caption; a value other than the paper's 50 gets its own store.
        template: the prompt template (name, file or text); any but the default gets its own store.
        build: which build of the captioner (the kit's embedded one: its recipe hash), so a rebuilt captioner
            gets a store of its own.

    Returns:
        ``<folder>/<dataset>--<captioner>[--BUILD][--wN][--tHASH].jsonl``, where a folder data set is named by
        its last path part (``/data/my-pets`` → ``my-pets``).
    """
    subject = Path(dataset).name if "/" in dataset or os.sep in dataset else dataset
    name = f"{_slug(subject)}--{_slug(captioner)}"
    if build:
        name += f"--{_slug(build)}"
    if int(words) != PAPER_WORDS:
        name += f"--w{int(words)}"
    text = resolve_template(template)
    if text != resolve_template(None):
        name += "--t" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return Path(folder).expanduser() / f"{name}.jsonl"


def skipped_path(store: str | os.PathLike) -> Path:
    """The file beside a store that lists the images skipped while captioning into it."""
    store = Path(store)
    return store.with_name(f"{store.stem}.skipped.jsonl")


def read_skipped(store: CaptionStore | str | os.PathLike) -> list[dict]:
    """The skipped images listed beside ``store`` that still lack a caption (newest entry per image)."""
    store = store if isinstance(store, CaptionStore) else CaptionStore(store)
    latest: dict[tuple, dict] = {}
    for entry in _read_jsonl(skipped_path(store.path)):
        if entry.get("image") and entry.get("prompt") and (entry["image"], entry["prompt"]) in store:
            continue  # captioned by a later run
        latest[(entry.get("dataset"), entry.get("index"), entry.get("path"))] = entry
    return list(latest.values())


def _read_jsonl(path: Path) -> list[dict]:
    """The complete lines of a JSONL file (a torn line of a killed run is left out); [] if there is none."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def _skip_key(entry: dict) -> tuple:
    return entry.get("dataset"), entry.get("index"), entry.get("path"), entry.get("reason"), entry.get("prompt")


@dataclass
class CaptionReport:
    """What a captioning run did, counted in images (``captions``: caption records written)."""

    captioned: int = 0
    reused: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    captions: int = 0
    store: str = ""
    skipped_file: str = ""

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
        text += f" -> {self.store}" if self.store else ""
        if self.skipped and self.skipped_file:
            text += f"; skipped images listed in {self.skipped_file}"
        return text


def caption_dataset(
    dataset,
    captioner: Captioner,
    store: CaptionStore | str | os.PathLike,
    characteristics: Sequence[str] | None = None,
    words: int = PAPER_WORDS,
    template: str | os.PathLike | None = None,
    limit: int | None = None,
    shard: tuple[int, int] | str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    strict: bool = False,
) -> CaptionReport:
    """Caption every image of ``dataset`` once per characteristic, skipping what the store holds.

    Args:
        dataset: a data set with ``classnames`` and ``domain`` (as :func:`mmft_kit.data.get_dataset` gives).
        captioner: any :class:`~mmft_kit.captions.Captioner`.
        store: the caption store (a path is created with the run's settings, or must have them).
        characteristics: one caption per image for each (None: the library's defaults).
        words, template: the prompt's length and template.
        limit: caption only the first ``limit`` images.
        shard: ``(i, n)`` or ``"i/n"``: every n-th image from the i-th (None: the ``torchrun`` rank's share, or all).
        progress: show a progress bar (over images read).
        overwrite: start the store afresh when its settings differ.
        strict: stop at the first image that cannot be captioned instead of skipping and listing it.

    The embedded captioner prints one warning line when its images are not from its world
    (:mod:`mmft_kit.captions.world_check`).

    Returns:
        What was captioned, reused and skipped (with reasons).
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
    shard = resolve_shard(shard)
    if shard is not None:
        indices = indices[shard[0] :: shard[1]]
    source = dataset_name(dataset)
    listed = skipped_path(store.path)
    report = CaptionReport(store=str(store.path), skipped_file=str(listed))
    outstanding: dict[int, int] = {}  # image index -> captions still to come
    failed: dict[int, tuple[str, dict]] = {}  # image index -> why its first caption failed, and which one
    queued: set[tuple[str, str]] = set()  # (image, prompt) asked in this run: a repeated image is asked once
    already_listed = {_skip_key(entry) for entry in _read_jsonl(listed)}
    world_check = WorldCheck(captioner)

    def skip(index: int, reason: str, detail: str = "", **details: Any) -> None:
        """Count a skipped image under ``reason`` and list it (with ``detail``) beside the store."""
        path = details.pop("path", None) or item_path(dataset, index)
        if strict:
            where = f"item {index}" + (f" ({path})" if path else "")
            raise InvalidInputError(
                f"stopped at {where}: {detail or reason}. Replace or remove it, or run without --strict to skip "
                f"and list such images in {listed}"
            )
        report.skip(reason)
        entry = {"dataset": source, "index": index, "path": path, "reason": reason, "detail": detail,
                 "shard": None if shard is None else f"{shard[0]}/{shard[1]}", **details}
        if _skip_key(entry) not in already_listed:  # a rerun does not list the same image again
            already_listed.add(_skip_key(entry))
            append_jsonl(listed, [entry])

    def requests() -> Iterator[CaptionRequest]:
        for index in tqdm(indices, desc="captioning", unit="img", **bar_options(progress)):
            try:
                raw = dataset_image(dataset, index)
                digest = image_digest(raw)
                image = to_rgb(raw)
            except UnreadableImageError as error:
                skip(index, error.reason, str(error), path=error.path)
                continue
            except MMFTKitError:
                raise
            except UNREADABLE_IMAGE_ERRORS as error:
                skip(index, f"unreadable image ({type(error).__name__})", str(error))
                continue
            if min(image.size) < MIN_SIDE:
                skip(index, "image too small", f"{image.width}x{image.height}; captioning needs {MIN_SIDE} px a side")
                continue
            classname = classnames[dataset_label(dataset, index)]
            todo = []
            for characteristic in characteristics:
                prompt = build_prompt(classname, domain, characteristic, words, template)
                if (digest, prompt) not in store and (digest, prompt) not in queued:
                    queued.add((digest, prompt))
                    record = {"image": digest, "index": index, "class": classname,
                              "characteristic": characteristic, "prompt": prompt}
                    todo.append(CaptionRequest(image, prompt, classname, tag=record))
            if todo:
                world_check.see(image)
            if not todo:
                report.reused += 1
                continue
            outstanding[index] = len(todo)
            yield from todo

    for results in captioner.stream(requests()):
        done = [{**r.request.tag, "caption": r.caption} for r in results if r.caption]
        store.add(done)
        report.captions += len(done)
        for result in results:
            record = result.request.tag
            index = record["index"]
            if not result.caption:
                failed.setdefault(index, (result.error or "no caption", {"image": record["image"],
                                                                           "prompt": record["prompt"]}))
            outstanding[index] -= 1
            if outstanding[index] == 0:
                del outstanding[index]
                if index in failed:
                    error, details = failed.pop(index)
                    skip(index, error.split(":")[0], error, **details)
                else:
                    report.captioned += 1
    return report

