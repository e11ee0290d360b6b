"""The embedded models, built once on the world and cached on disk.

``ensure_clip()`` and ``ensure_vlm()`` return a folder in the format a real model comes in (an
open_clip ``local-dir:`` folder; a transformers ``save_pretrained`` folder). A folder is named
by a hash of its recipe and of the code that builds it, so it is rebuilt only when either
changes; it is built in a temporary folder and renamed into place, so an interrupted build
never leaves a half folder that is later trusted. ``MMFT_KIT_CACHE`` overrides the cache root.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from .errors import InvalidInputError
from .io import atomic_directory, atomic_write_json

REPORT_NAME = "build_report.json"


def cache_root() -> Path:
    """Where the kit caches what it builds: ``$MMFT_KIT_CACHE`` or ``~/.cache/mmft_kit``."""
    return Path(os.environ.get("MMFT_KIT_CACHE", Path.home() / ".cache" / "mmft_kit")).expanduser()


def _recipe_hash(recipe, builder: Callable) -> str:
    from .data import corpus, tasks, world

    digest = hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode())
    for module in (world, corpus, tasks, inspect.getmodule(builder)):
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:12]


def _ensure(kind: str, size: str, recipes: dict, builder: Callable, force: bool, progress: bool) -> Path:
    if size not in recipes:
        raise InvalidInputError(f"unknown {kind} size {size!r}; choose one of {sorted(recipes)}")
    recipe = recipes[size]
    folder = cache_root() / f"{kind}-{size}-{_recipe_hash(recipe, builder)}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / REPORT_NAME).is_file() and not force:
            return folder
        with atomic_directory(folder) as tmp:
            report = builder(recipe, tmp, progress=progress)
            atomic_write_json(tmp / REPORT_NAME, report)
    _remove_stale(folder)
    return folder


def _remove_stale(current: Path) -> None:
    """Delete builds (and orphaned lock files) of the same kind and size made from an older recipe,
    unless another process holds their lock."""
    prefix = current.name.rsplit("-", 1)[0] + "-"
    builds = {p.with_suffix("") if p.suffix == ".lock" else p for p in current.parent.glob(prefix + "*")}
    for other in sorted(builds - {current}):
        if other.name.startswith(".") or (other.exists() and not other.is_dir()):
            continue
        try:
            with FileLock(str(other) + ".lock").acquire(timeout=0):
                shutil.rmtree(other, ignore_errors=True)
        except Timeout:
            continue
        Path(str(other) + ".lock").unlink(missing_ok=True)


def ensure_clip(size: str = "default", force: bool = False, progress: bool = True) -> Path:
    """Folder of the embedded CLIP (open_clip ``local-dir:`` format), built on first use.

    ``size="default"`` takes about 9 minutes on 2 CPU cores, ``size="ci"`` about 2 (see README).
    """
    from .embedded.clip import CLIP_RECIPES, build_clip

    return _ensure("clip", size, CLIP_RECIPES, build_clip, force, progress)


def ensure_vlm(size: str = "default", force: bool = False, progress: bool = True) -> Path:
    """Folder of the embedded multimodal LLM (transformers ``save_pretrained`` format), built on first use."""
    from .embedded.vlm import VLM_RECIPES, build_vlm

    return _ensure("vlm", size, VLM_RECIPES, build_vlm, force, progress)


def build_report(folder: str | os.PathLike) -> dict:
    """The build report (time, quality figures) saved beside an embedded model."""
    return json.loads((Path(folder) / REPORT_NAME).read_text())
