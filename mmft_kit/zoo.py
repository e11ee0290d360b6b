"""The embedded models: shipped with the kit, or built once on the world and cached on disk.

``ensure_clip()`` and ``ensure_vlm()`` return a folder in the format a real model comes in (an
open_clip ``local-dir:`` folder; a transformers ``save_pretrained`` folder). Every build is
identified by its *recipe hash*: a hash of its recipe, of the code that decides its weights and of
the data that code takes from elsewhere. The package ships the ``default`` models and the small
``ci`` ones the tests use (``mmft_kit/embedded/shipped/``), each with the recipe hash it was built
from; a shipped folder is used only while that hash matches the code, else the model is built into
the cache, in a folder named by the hash. A build runs in a temporary folder renamed into place, so an interrupted build
never leaves a half folder that is later trusted. ``MMFT_KIT_CACHE`` overrides the cache root;
:func:`ship_models` (``make ship-models``) rebuilds the shipped folders from the code.
"""

from __future__ import annotations

import argparse
import ast
import functools
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

#: The models the package ships: the default ones and the small ``ci`` ones the tests use, so that neither
#: a test run nor a new machine builds a model while these match the code.
SHIPPED = (("clip", "default"), ("vlm", "default"), ("clip", "ci"), ("vlm", "ci"))


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


def _locate(kind: str, size: str, recipes: dict, builder: Callable, use_shipped: bool) -> tuple[Path, str, bool]:
    """The folder of a model (shipped while its hash matches, else in the cache), its recipe hash, and
    whether it is ready."""
    if size not in recipes:
        raise InvalidInputError(f"unknown {kind} size {size!r}; choose one of {sorted(recipes)}")
    recipe_hash = _recipe_hash(recipes[size], builder)
    shipped = SHIPPED_ROOT / f"{kind}-{size}"
    if use_shipped and shipped_hash(shipped) == recipe_hash:
        return shipped, recipe_hash, True
    folder = cache_root() / f"{kind}-{size}-{recipe_hash}"
    return folder, recipe_hash, (folder / REPORT_NAME).is_file()


def _ensure(kind: str, size: str, recipes: dict, builder: Callable, force: bool, progress: bool,
            use_shipped: bool = True) -> Path:
    folder, recipe_hash, ready = _locate(kind, size, recipes, builder, use_shipped and not force)
    if ready and not force:
        return folder
    recipe = recipes[size]
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
    """Folder of the embedded CLIP (open_clip ``local-dir:`` format): the shipped one while it matches
    the code, else built into the cache on first use (see README for build times).

    Args:
        size: ``default`` (shipped) or ``ci`` (smaller, for tests).
        force: rebuild into the cache even when a folder of the current recipe hash exists.
        progress: show progress bars while building.

    Returns:
        The folder.
    """
    return _ensure("clip", size, *_kind("clip"), force, progress)


def ensure_vlm(size: str = "default", force: bool = False, progress: bool = True) -> Path:
    """Folder of the embedded multimodal LLM (transformers ``save_pretrained`` format): the shipped one
    while it matches the code, else built into the cache on first use. Arguments as :func:`ensure_clip`."""
    return _ensure("vlm", size, *_kind("vlm"), force, progress)


def _kind(kind: str) -> tuple[dict, Callable]:
    if kind == "clip":
        from .embedded.clip import CLIP_RECIPES, build_clip

        return CLIP_RECIPES, build_clip
    if kind == "vlm":
        from .embedded.vlm import VLM_RECIPES, build_vlm

        return VLM_RECIPES, build_vlm
    raise InvalidInputError(f"unknown embedded model kind {kind!r}; choose clip or vlm")


def _build(model: tuple[str, str], force: bool, progress: bool, use_shipped: bool) -> Path:
    kind, size = model
    return _ensure(kind, size, *_kind(kind), force, progress, use_shipped=use_shipped)


def ensure_all(models: Iterable[tuple[str, str]] = SHIPPED, force: bool = False, progress: bool = True,
               use_shipped: bool = True) -> list[Path]:
    """The folders of several embedded models; those to build are built side by side, one process each.

    Args:
        models: ``(kind, size)`` pairs, kind ``clip`` or ``vlm``.
        force: rebuild even when a folder of the current recipe hash exists.
        progress: show progress bars.
        use_shipped: take a shipped folder whose recipe hash matches the code.

    Returns:
        One folder per model, in the order given.
    """
    from . import zoo  # this module by its import name, also under ``python -m``: worker processes import it
    from .dispatch import dispatch

    models = list(models)
    to_build = [m for m in models if force or not _locate(*m, *_kind(m[0]), use_shipped)[2]]
    job = functools.partial(zoo._build, force=force, progress=progress, use_shipped=use_shipped)
    folders = dict(dispatch(job, models, workers=max(1, len(to_build))))
    return [folders[i] for i in range(len(models))]


def ship_models(models: Iterable[tuple[str, str]] = SHIPPED, force: bool = False, progress: bool = True
                ) -> list[Path]:
    """Build models from the code alone (into the cache) and copy them into the package's shipped folders.

    Args:
        models: ``(kind, size)`` pairs; by default those the package ships.
        force: rebuild even when the cache holds a build of the current recipe hash.
        progress: show progress bars.

    Returns:
        The shipped folders, each carrying its build report and recipe hash.
    """
    models = list(models)
    shipped = []
    for (kind, size), built in zip(models, ensure_all(models, force, progress, use_shipped=False)):
        target = SHIPPED_ROOT / f"{kind}-{size}"
        with atomic_directory(target) as tmp:
            shutil.copytree(built, tmp, dirs_exist_ok=True)
        shipped.append(target)
    return shipped


def recipe_hash(kind: str, size: str) -> str:
    """The recipe hash of the embedded ``kind`` model of ``size`` the zoo finds or would build (nothing is built)."""
    return _locate(kind, size, *_kind(kind), use_shipped=True)[1]


def build_report(folder: str | os.PathLike) -> dict:
    """The build report (time, quality figures) saved beside an embedded model."""
    return json.loads((Path(folder) / REPORT_NAME).read_text())


def main(argv: list[str] | None = None) -> None:
    """``python -m mmft_kit.zoo [--ship] [--force]``: find or build the shipped models (``make models``),
    or rebuild them from the code and refresh the package's copy (``make ship-models``)."""
    parser = argparse.ArgumentParser(prog="python -m mmft_kit.zoo", description=main.__doc__)
    parser.add_argument("--ship", action="store_true", help="build from the code and refresh the shipped copy")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cache holds the build")
    args = parser.parse_args(argv)
    folders = ship_models(force=args.force) if args.ship else ensure_all(force=args.force)
    for (kind, size), folder in zip(SHIPPED, folders):
        report = build_report(folder)
        print(f"{kind}-{size}: {folder} (recipe {report['recipe_hash']}, built in {report['build_seconds']} s)")


if __name__ == "__main__":
    main()
