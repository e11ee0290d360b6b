"""Provenance of a run, saved beside its results: what was run, on what data, with which software.

A provenance record holds the fully resolved configuration, the package versions and
platform, the git commit of the code (when it is a git checkout), the exact training split
(indices and a hash) and the settings of the caption store the captions came from.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

from .data.few_shot import split_hash
from .io import atomic_write_json

PROVENANCE_NAME = "provenance.json"
#: The packages whose versions every record lists.
PACKAGES = ("mmft_kit", "torch", "torchvision", "open_clip_torch", "transformers", "numpy", "scikit-learn", "pillow")


@lru_cache(maxsize=None)
def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package (None when it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def platform_info() -> dict[str, Any]:
    """Python, operating system, CPU threads and the CUDA device, if any."""
    import torch

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


@lru_cache(maxsize=None)
def git_commit(folder: str | None = None) -> str | None:
    """The commit of the git checkout holding ``folder`` (default: this package), with ``+dirty``
    when tracked files changed; None outside a checkout or without git."""
    folder = folder or str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def split_record(indices: Sequence[int], labels: Sequence[int], **about: Any) -> dict[str, Any]:
    """The training split: its indices (into the data set's train split), their hash and count per class."""
    per_class: dict[int, int] = {}
    for label in labels:
        per_class[int(label)] = per_class.get(int(label), 0) + 1
    return {**about, "indices": [int(i) for i in indices], "hash": split_hash(indices), "size": len(indices),
            "per_class": [per_class.get(c, 0) for c in range(max(per_class, default=-1) + 1)]}


def build_provenance(
    config: Mapping[str, Any],
    split: Mapping[str, Any],
    caption_store: Mapping[str, Any] | None = None,
    resolved: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One provenance record (plain JSON-able data)."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": dict(config),
        "resolved": dict(resolved or {}),
        "split": dict(split),
        "caption_store": dict(caption_store) if caption_store is not None else None,
        "versions": package_versions(),
        "platform": platform_info(),
        "git_commit": git_commit(),
    }


def write_provenance(folder: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Write ``record`` atomically as ``provenance.json`` in ``folder``; return its path."""
    path = Path(folder) / PROVENANCE_NAME
    atomic_write_json(path, dict(record))
    return path
