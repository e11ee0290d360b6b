"""The captions a run trains on: found in a caption store (made there first when asked)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ..captions import CaptionStore, MissingCaptionsError, caption_dataset, captions_for_dataset, default_store_path
from ..captions.prompts import resolve_template
from ..data import image_folder_path
from ..errors import CaptionStoreMismatchError
from ..models import embedded_size, load_captioner
from ..zoo import cache_root, recipe_hash
from .config import TrainConfig
from .loop import on_main_process


#: Where the default caption stores of the user's own image folders go, relative to the working directory (the
#: project folder): beside the runs, readable, one per folder name and caption settings.
OWN_DATA_STORES = Path("runs") / "captions"


def default_store(dataset: str, root: str | None, captioner: str, words: int = 50, template: str | None = None) -> Path:
    """The store ``dataset``'s captions go to when none is named: for an image folder of the user's,
    ``runs/captions/<folder name>--<captioner>….jsonl`` (:data:`OWN_DATA_STORES`); for the kit's and the
    paper's data sets, the shared store in the kit's cache (``<cache>/captions``)."""
    folder = OWN_DATA_STORES if image_folder_path(dataset, root) is not None else cache_root() / "captions"
    return default_store_path(dataset, captioner, folder, words, template, build=_embedded_build(captioner))


def _embedded_build(captioner: str) -> str | None:
    """The recipe hash of the kit's embedded captioner ``captioner`` names (``None`` for any other captioner):
    a kit with a rebuilt captioner starts new stores instead of refusing the old ones."""
    size = embedded_size(captioner)
    return None if size is None else recipe_hash("vlm", size)


def store_path(config: TrainConfig) -> Path:
    """``config.caption_store``, or the default store of its data set and caption settings (:func:`default_store`)."""
    if config.caption_store is not None:
        return Path(config.caption_store).expanduser()
    return default_store(config.dataset, config.root, config.captioner, config.words, config.template)


def caption_command(config: TrainConfig) -> str:
    """The command line that captions the train split of ``config.dataset`` into its store."""
    parts = ["python -m mmft_kit caption", "--dataset", config.dataset, "--store", str(store_path(config)),
             "--captioner", config.captioner, "--words", str(config.words)]
    if config.root:
        parts += ["--root", config.root]
    if config.template:
        parts += ["--template", config.template]
    if config.domain:
        parts += ["--domain", config.domain]
    if config.characteristics:
        parts += ["--characteristics", *config.characteristics]
    return " ".join(parts[:1] + [shlex.quote(p) for p in parts[1:]])


def _captioner_of(settings: dict) -> str | None:
    return "label" if settings.get("backend") == "label" else settings.get("model")


def check_store(store: CaptionStore, config: TrainConfig) -> None:
    """Raise CaptionStoreMismatchError unless the store was made by ``config``'s captioner, words and template."""
    made_by = _captioner_of(store.settings)
    problems = []
    if made_by not in (config.captioner, Path(config.captioner).name):
        problems.append(f"captioner: store has {made_by!r}, asked for {config.captioner!r}")
    if store.settings.get("words") != config.words:
        problems.append(f"words: store has {store.settings.get('words')!r}, asked for {config.words!r}")
    if config.template is not None and store.settings.get("template") != resolve_template(config.template):
        problems.append("template: the store's prompt template differs from the one asked for")
    if problems:
        raise CaptionStoreMismatchError(
            f"caption store {store.path} was made with other settings: " + "; ".join(problems)
            + ". Give the store's settings, another --store / caption_store, or make captions with: "
            + caption_command(config)
        )


def make_missing_captions(config: TrainConfig, images: Dataset) -> None:
    """Caption the images of ``images`` the store lacks, with ``config.captioner`` (nothing loaded if none lack)."""
    path = store_path(config)
    if path.exists():
        store = CaptionStore(path)
        check_store(store, config)
        try:
            captions_for_dataset(images, store, config.characteristics)
            return
        except MissingCaptionsError:
            pass
    captioner = load_captioner(config.captioner, device=config.device)
    caption_dataset(images, captioner, path, characteristics=config.characteristics, words=config.words,
                    template=config.template, progress=config.progress)


def load_captions(config: TrainConfig, images: Dataset) -> tuple[list[list[str]], dict[str, Any]]:
    """The captions of every image of ``images`` and a record of the store they came from.

    With ``config.make_captions`` missing captions are made first; otherwise they raise
    :class:`~mmft_kit.captions.MissingCaptionsError` naming the command that makes them.
    """
    if config.make_captions:  # by one process: the others wait, then read the store
        on_main_process(lambda: make_missing_captions(config, images))
    path = store_path(config)
    if not path.exists():
        raise MissingCaptionsError(
            f"no caption store at {path}: make the captions with `{caption_command(config)}` "
            "(or pass make_captions=True)"
        )
    store = CaptionStore(path)
    check_store(store, config)
    try:
        captions = captions_for_dataset(images, store, config.characteristics)
    except MissingCaptionsError as error:
        raise MissingCaptionsError(f"{error}. For this run: `{caption_command(config)}`") from error
    record = {
        "path": str(path.resolve()),
        "settings": store.settings,
        "settings_id": store.settings_id,
        "characteristics": list(config.characteristics or store.characteristics()),
        "captions_in_store": len(store),
        "captions_used": sum(len(c) for c in captions),
    }
    return captions, record
