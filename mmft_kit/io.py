"""Atomic file and folder writes: an interrupted write never leaves a half file that is later trusted.

What they leave follows the user's umask, as ``open`` and ``mkdir`` do (``tempfile`` makes its files
0600 and folders 0700, private whatever the umask): under umask 022 a teammate on shared storage
can read results, caption stores, classifiers and exports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where it says, else set and restored at once)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(executable: bool) -> int:
    """The mode ``open`` (``executable=False``) or ``mkdir`` (``True``) would give under the current umask."""
    return (0o777 if executable else 0o666) & ~current_umask()


def temp_file_beside(path: Path) -> tuple[int, str]:
    """A new temporary file in ``path``'s folder, named after it, with the umask's mode: ``(fd, its path)``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, umask_mode(executable=False))
    return fd, tmp


def _apply_umask(folder: Path) -> None:
    """Give ``folder`` and everything in it the modes the umask gives new files and folders (executables stay so)."""
    for entry in [folder, *folder.rglob("*")]:
        if entry.is_symlink():
            continue
        executable = entry.is_dir() or bool(entry.stat().st_mode & 0o100)
        os.chmod(entry, umask_mode(executable))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, default=str) + "\n")


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The rows of a JSON-lines log (none when it does not exist); a line torn by a crash is skipped."""
    rows = []
    for line in Path(path).read_text().splitlines() if Path(path).is_file() else []:
        with contextlib.suppress(json.JSONDecodeError):
            rows.append(json.loads(line))
    return rows


def append_jsonl(path: str | os.PathLike, row: dict) -> None:
    """Append ``row`` to a JSON-lines log in one flushed write, so a crash loses at most that line (a line
    torn by an earlier crash is ended first, so it does not swallow this one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab+") as handle:
        handle.seek(0, os.SEEK_END)
        torn = handle.tell() > 0 and (handle.seek(-1, os.SEEK_END), handle.read(1))[1] != b"\n"
        handle.write((("\n" if torn else "") + json.dumps(row, sort_keys=True, default=str) + "\n").encode())
        handle.flush()
        os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` in one rename.

    The folder and what the body wrote into it get the umask's modes. If the body raises, the temporary folder is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".building"))
    try:
        yield tmp
        _apply_umask(tmp)  # mkdtemp's 0700, and 0600 files some writers make (safetensors)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
