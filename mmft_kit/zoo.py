"""The embedded models: shipped with the kit, or built once on the world and cached on disk.

``ensure_clip()`` and ``ensure_vlm()`` return a folder in the format a real model comes in (an
open_clip ``local-dir:`` folder; a transformers ``save_pretrained`` folder). Every build is
identified by its *recipe hash*: a hash of its recipe, of the code that decides its weights and of
the data that code takes from elsewhere. The package ships the ``default`` models
(``mmft_kit/embedded/shipped/``), each with the recipe hash it was built from; a shipped folder is
used only while that hash matches the code, else the model is built into the cache, in a folder
named by the hash. A build runs in a temporary folder renamed into place, so an interrupted build
never leaves a half folder that is later trusted. ``MMFT_KIT_CACHE`` overrides the cache root;
:func:`ship_models` (``make ship-models``) rebuilds the shipped folders from the code.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
import shutil
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

from filelock import FileLock, Timeout

from .errors import InvalidInputError
from .io import atomic_directory, atomic_write_json

REPORT_NAME = "build_report.json"

#: Where the package keeps the models it ships, as ``{kind}-{size}`` folders.
SHIPPED_ROOT = Path(__file__).parent / "embedded" / "shipped"

#: The models the package ships.
SHIPPED = (("clip", "default"), ("vlm", "default"))


def cache_root() -> Path:
    """Where the kit caches what it builds: ``$MMFT_KIT_CACHE`` or ``~/.cache/mmft_kit``."""
    return Path(os.environ.get("MMFT_KIT_CACHE", Path.home() / ".cache" / "mmft_kit")).expanduser()


def _code(obj) -> str:
    """The code of a module or function as its syntax tree without docstrings: comments, docs and
    layout do not change what a build does, so they do not change the hash."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _recipe_hash(recipe, builder: Callable) -> str:
    """Hash of what decides a build's weights: the recipe, the builder's module, the code it declares
    in ``WEIGHT_SOURCES`` and the data its ``weight_inputs(recipe)`` names (library versions aside)."""
    module = inspect.getmodule(builder)
    digest = hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode())
    for source in (module, *getattr(module, "WEIGHT_SOURCES", ())):
        digest.update(_code(source).encode())
    if hasattr(module, "weight_inputs"):
        digest.update(json.dumps(module.weight_inputs(recipe), sort_keys=True).encode())
    return digest.hexdigest()[:12]


def shipped_hash(folder: Path) -> str | None:
    """The recipe hash a shipped (or cached) folder was built from; ``None`` when it has no report."""
    try:
        return json.loads((folder / REPORT_NAME).read_text()).get("recipe_hash")
    except (OSError, ValueError):
        return None


def _ensure(kind: str, size: str, recipes: dict, builder: Callable, force: bool, progress: bool,
            use_shipped: bool = True) -> Path:
    if size not in recipes:
        raise InvalidInputError(f"unknown {kind} size {size!r}; choose one of {sorted(recipes)}")
    recipe = recipes[size]
    recipe_hash = _recipe_hash(recipe, builder)
    shipped = SHIPPED_ROOT / f"{kind}-{size}"
    if use_shipped and not force and shipped_hash(shipped) == recipe_hash:
        return shipped
    folder = cache_root() / f"{kind}-{size}-{recipe_hash}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / REPORT_NAME).is_file() and not force:
            return folder
        with atomic_directory(folder) as tmp:
            report = builder(recipe, tmp, progress=progress)
            atomic_write_json(tmp / REPORT_NAME, {**report, "recipe_hash": recipe_hash})
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
    return _ensure("clip", size, *_kind("clip"), force, progress)


def ensure_vlm(size: str = "default", force: bool = False, progress: bool = True) -> Path:
    """Folder of the embedded multimodal LLM (transformers ``save_pretrained`` format), built on first use."""
    return _ensure("vlm", size, *_kind("vlm"), force, progress)


def _kind(kind: str) -> tuple[dict, Callable]:
    if kind == "clip":
        from .embedded.clip import CLIP_RECIPES, build_clip

        return CLIP_RECIPES, build_clip
    if kind == "vlm":
        from .embedded.vlm import VLM_RECIPES, build_vlm

        return VLM_RECIPES, build_vlm
    raise InvalidInputError(f"unknown embedded model kind {kind!r}; choose clip or vlm")


def ship_models(models: Iterable[tuple[str, str]] = SHIPPED, force: bool = False, progress: bool = True
                ) -> list[Path]:
    """Build the given ``(kind, size)`` models from the code (into the cache) and copy them into the package.

    Args:
        models: which models to ship; by default those the package ships.
        force: rebuild even when the cache holds a build of the current recipe hash.
        progress: show progress bars.

    Returns:
        The shipped folders, each carrying its build report and recipe hash.
    """
    shipped = []
    for kind, size in models:
        recipes, builder = _kind(kind)
        built = _ensure(kind, size, recipes, builder, force, progress, use_shipped=False)
        target = SHIPPED_ROOT / f"{kind}-{size}"
        with atomic_directory(target) as tmp:
            shutil.copytree(built, tmp, dirs_exist_ok=True)
        shipped.append(target)
    return shipped


def build_report(folder: str | os.PathLike) -> dict:
    """The build report (time, quality figures) saved beside an embedded model."""
    return json.loads((Path(folder) / REPORT_NAME).read_text())
