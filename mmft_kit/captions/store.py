"""A caption store: captions generated once, kept in one JSONL file, reused on every later run.

The first line is a header holding the settings the captions were made with (model, generation
settings, prompt template, words); every other line is one caption::

    {"format": "mmft_kit.captions/1", "settings": {...}}
    {"image": "<sha256 of the pixels>", "index": 12, "class": "vorn", "characteristic": "visual",
     "prompt": "To differentiate ...", "caption": "..."}

A caption is keyed by its image's content and its prompt; the header pins model and generation
settings, so the full key is (image, prompt, model, generation settings). Captions are appended in
whole lines with flush + fsync under a file lock (several processes may share one store); a torn
last line left by a crash is cut off before the next write and never read. Opening a store with
other settings raises :class:`~mmft_kit.errors.CaptionStoreMismatchError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

from PIL import Image

from ..errors import CaptionStoreMismatchError, InvalidInputError
from ..io import atomic_write_text, temp_file_beside

try:  # POSIX file locks; without them (Windows) a store has one writer at a time
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

#: Marks the header line of a caption store.
FORMAT = "mmft_kit.captions/1"

_REQUIRED = ("image", "prompt", "caption")


def image_digest(image: Image.Image) -> str:
    """SHA-256 of an image's decoded pixels (with mode and size): the image part of a caption's key."""
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def settings_digest(settings: Mapping[str, Any]) -> str:
    """A short stable digest of a settings mapping."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _normalise(settings: Mapping[str, Any]) -> dict:
    """Settings as they read back from JSON (tuples become lists), so comparisons are exact."""
    return json.loads(json.dumps(dict(settings), sort_keys=True, default=str))


@contextlib.contextmanager
def _locked(handle: IO[bytes]) -> Iterator[IO[bytes]]:
    if fcntl is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield handle
    finally:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _trim_torn_tail(handle: IO[bytes]) -> int:
    """Cut the file back to its last newline; return how many bytes were cut (0 if none)."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return 0
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return 0
    end = size
    while end > 0:
        start = max(0, end - 65536)
        handle.seek(start)
        newline = handle.read(end - start).rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            handle.truncate(keep)
            os.fsync(handle.fileno())
            return size - keep
        end = start
    raise InvalidInputError(f"{handle.name} holds no complete line: it is not a caption store")


def append_jsonl(path: str | os.PathLike, records: list[Mapping[str, Any]]) -> None:
    """Append ``records`` to a JSONL file as whole lines, under a file lock, flushed to disk.

    A torn last line left by a killed writer is cut off first (with a warning).
    """
    data = "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in records).encode("utf-8")
    with open(path, "a+b") as handle, _locked(handle):
        cut = _trim_torn_tail(handle)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if cut:
        warnings.warn(f"{path}: cut off a torn last line ({cut} bytes) before appending", stacklevel=3)


class CaptionStore:
    """Captions keyed by (image digest, prompt) under one settings header, in a JSONL file.

    ``settings=None`` opens an existing store to read (and to add to) whatever settings it has;
    with ``settings``, a missing store is created, and an existing one must have been made with
    the same settings (``overwrite=True`` starts it afresh instead).
    """

    def __init__(
        self, path: str | os.PathLike, settings: Mapping[str, Any] | None = None, overwrite: bool = False
    ) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise InvalidInputError(f"caption store {self.path} is a folder; give a file path such as captions.jsonl")
        if settings is not None:
            settings = _normalise(settings)
            if overwrite or not self.path.exists():
                self._create(settings, replace=overwrite)
        elif not self.path.exists():
            raise InvalidInputError(
                f"caption store {self.path} does not exist; make it with `python -m mmft_kit caption "
                f"--dataset NAME --store {self.path}`"
            )
        self._entries: dict[tuple[str, str], dict] = {}
        self.settings: dict = self._load()
        if settings is not None:
            self.require(settings)

    def require(self, settings: Mapping[str, Any]) -> None:
        """Raise CaptionStoreMismatchError (naming what differs and the fix) unless the store has ``settings``."""
        settings = _normalise(settings)
        if settings != self.settings:
            raise CaptionStoreMismatchError(self._mismatch_message(settings))

    # -- creating and reading -------------------------------------------------------------------
    def _header_line(self, settings: dict) -> str:
        return json.dumps({"format": FORMAT, "settings": settings, "settings_id": settings_digest(settings)}) + "\n"

    def _create(self, settings: dict, replace: bool) -> None:
        header = self._header_line(settings)
        if replace:
            atomic_write_text(self.path, header)
            return
        # Create-if-absent in one step (a hard link of a complete temporary file), so two
        # processes starting at once never both write a header.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temp_file_beside(self.path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(header)
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, self.path)
        finally:
            os.unlink(tmp)

    def _load(self) -> dict:
        writable = os.access(self.path, os.W_OK)
        with open(self.path, "a+b" if writable else "rb") as handle, _locked(handle):
            handle.seek(0)
            header = self._parse_header(handle.readline())  # before anything is cut: is this a store?
            cut = _trim_torn_tail(handle) if writable else 0
            handle.seek(0)
            data = handle.read()
        if cut:
            warnings.warn(
                f"{self.path}: cut off a torn last line ({cut} bytes) left by an interrupted run", stacklevel=3
            )
        lines = data.split(b"\n")[:-1]  # the file ends with a newline; a torn tail is never read
        bad = 0
        for line in lines[1:]:
            try:
                record = json.loads(line)
                if not all(isinstance(record[k], str) and record[k] for k in _REQUIRED):
                    raise ValueError("a caption record needs non-empty image, prompt and caption strings")
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            self._entries.setdefault((record["image"], record["prompt"]), record)
        if bad:
            warnings.warn(
                f"{self.path}: ignored {bad} malformed line(s); their captions will be made again", stacklevel=3
            )
        return header["settings"]

    def _parse_header(self, line: bytes) -> dict:
        try:
            header = json.loads(line)
            complete = line.endswith(b"\n") and isinstance(header.get("settings"), dict)
            if not complete or header.get("format") != FORMAT:
                raise ValueError
        except (ValueError, AttributeError):
            raise CaptionStoreMismatchError(
                f"{self.path} is not a caption store (its first line is not a {FORMAT} header); "
                "give another --store path, or --overwrite to replace the file"
            ) from None
        return header

    def _mismatch_message(self, asked: dict) -> str:
        differing = []
        for name in sorted(set(asked) | set(self.settings)):
            have, want = self.settings.get(name, "(not set)"), asked.get(name, "(not set)")
            if have != want:
                differing.append(f"  {name}: store has {have!r}, asked for {want!r}")
        return (
            f"caption store {self.path} was made with other settings ({len(self)} captions):\n"
            + "\n".join(differing)
            + "\nUse the store's settings, give another store path (--store), or pass --overwrite to start "
            "this store afresh (its captions are then lost)."
        )

    # -- using --------------------------------------------------------------------------------
    @property
    def settings_id(self) -> str:
        """A short digest of the store's settings."""
        return settings_digest(self.settings)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._entries

    def get(self, image: str, prompt: str) -> str | None:
        """The caption of image digest ``image`` for ``prompt``, or None."""
        record = self._entries.get((image, prompt))
        return None if record is None else record["caption"]

    def records(self) -> Iterator[dict]:
        """Every caption record, in the order they were first written."""
        return iter(self._entries.values())

    def characteristics(self) -> list[str]:
        """The characteristics captions were made for, in the order first seen."""
        return list(dict.fromkeys(r["characteristic"] for r in self._entries.values() if "characteristic" in r))

    def add(self, records: list[Mapping[str, Any]]) -> None:
        """Append caption records (each with ``image``, ``prompt``, ``caption``) as whole lines, durably."""
        records = [dict(r) for r in records]
        for record in records:
            missing = [k for k in _REQUIRED if not record.get(k)]
            if missing:
                raise InvalidInputError(f"a caption record needs non-empty {missing}; got {record}")
        if not records:
            return
        append_jsonl(self.path, records)
        for record in records:
            self._entries.setdefault((record["image"], record["prompt"]), record)

    def __repr__(self) -> str:
        return f"CaptionStore({str(self.path)!r}, captions={len(self)}, settings_id={self.settings_id!r})"
