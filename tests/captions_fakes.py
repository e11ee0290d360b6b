"""Fakes for the captioning tests: a fault-injecting chat-completions server, image folders good and bad,
and a captioner that records what it was shown."""

from __future__ import annotations

import base64
import io
import json
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from mmft_kit.captions import Captioner, image_digest
from mmft_kit.captions.loopback import LoopbackServer, Reply, completion, echo_caption, request_parts

#: The faults the server injects, one per item in turn, each on an item's first attempt only.
FAULTS = ("rate_limit", "server_error", "slow", "malformed", "dropped", "refusal", None)


def image_size_of(url: str) -> tuple[int, int]:
    """The size of the image in a data URL."""
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size


class FaultyServer(LoopbackServer):
    """A loopback server whose items meet the faults of :data:`FAULTS` in turn on their first attempt.

    An item is one (prompt, image) pair. ``refusal`` items are refused while their image is not one
    of the authors' fallback sizes (224..508 px square), so they succeed only once resent resized.
    ``always_refuse`` holds prompts refused whatever the image. Every attempt's time is kept per item.
    """

    def __init__(self, slow: float = 2.0, retry_after: float = 0.3, latency: float = 0.0,
                 always_refuse: Sequence[str] = ()) -> None:
        super().__init__(respond=self.faulty, latency=latency)
        self.slow, self.retry_after, self.always_refuse = slow, retry_after, set(always_refuse)
        self.fault_of: dict[str, str | None] = {}
        self.attempts: dict[str, list[float]] = {}
        self.resized: set[str] = set()  # items whose image came at a fallback size
        self._faults_lock = threading.Lock()

    def faulty(self, request: dict) -> Reply:
        text, url = request_parts(request)
        key = f"{text}\n{url}"
        with self._faults_lock:
            if key not in self.fault_of:
                self.fault_of[key] = FAULTS[len(self.fault_of) % len(FAULTS)]
            fault = self.fault_of[key]
            attempts = self.attempts.setdefault(key, [])
            attempts.append(time.monotonic())
            first = len(attempts) == 1
        width, height = image_size_of(url)
        resized = width == height and 224 <= width < 512
        if resized:
            self.resized.add(key)
        if text in self.always_refuse or (fault == "refusal" and not resized):
            return Reply(body=completion(None, finish_reason="content_filter", refusal="I can't help with that."))
        if first and fault == "rate_limit":
            return Reply(429, json.dumps({"error": {"message": "slow down"}}).encode(),
                         {"Retry-After": str(self.retry_after)})
        if first and fault == "server_error":
            return Reply(500, json.dumps({"error": {"message": "boom"}}).encode())
        if first and fault == "slow":
            return Reply(body=completion(echo_caption(request)), delay=self.slow)
        if first and fault == "malformed":
            return Reply(body=b'{"choices": [{"message": ')
        if first and fault == "dropped":
            return Reply(body=None)
        return Reply(body=completion(echo_caption(request)), delay=self.latency)


def write_image_folder(root: Path, count: int, size: int = 32, seed: int = 0) -> Path:
    """An ImageFolder of ``count`` random PNG images in two classes (``cat``, ``dog``)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        folder = root / ("cat" if i % 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return root


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's size), with no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(
        b"IEND", b"")


def _saved(image: Image.Image, fmt: str, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


#: Each bad kind of file: whether it is converted (captioned) or skipped, and the reason it is listed with.
BAD_FILES = {
    "zero_byte.png": ("skipped", "empty file"),
    "truncated.jpg": ("skipped", "unreadable image (OSError)"),
    "corrupt.png": ("skipped", "unreadable image (UnidentifiedImageError)"),
    "bomb.png": ("skipped", "image too large to decode safely (decompression-bomb limit)"),
    "tiny.png": ("skipped", "image too small"),
    "cmyk.jpg": ("converted", None),
    "palette.png": ("converted", None),
    "grey16.png": ("converted", None),
    "grey_alpha.png": ("converted", None),
    "rotated.jpg": ("converted", None),
}


def write_bad_files(folder: Path) -> dict[str, Path]:
    """Write every kind of :data:`BAD_FILES` into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    photo = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    rotated = photo.copy()
    exif = rotated.getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    grey16 = Image.fromarray((np.arange(40 * 40).reshape(40, 40) * 40).astype(np.uint16))
    grey_alpha = Image.new("LA", (40, 40), (0, 0))  # black, fully transparent
    data = {
        "zero_byte.png": b"",
        "truncated.jpg": _saved(photo, "JPEG")[:300],
        "corrupt.png": b"\x89PNG this is not an image at all" * 10,
        "bomb.png": _png_header_only(20000, 20000),
        "tiny.png": _saved(photo.resize((2, 2)), "PNG"),
        "cmyk.jpg": _saved(photo.convert("CMYK"), "JPEG"),
        "palette.png": _saved(photo.convert("P"), "PNG"),
        "grey16.png": _saved(grey16, "PNG"),
        "grey_alpha.png": _saved(grey_alpha, "PNG"),
        "rotated.jpg": _saved(rotated, "JPEG", exif=exif),
    }
    paths = {}
    for name, content in data.items():
        paths[name] = folder / name
        paths[name].write_bytes(content)
    return paths


class RecordingCaptioner(Captioner):
    """Captions ``"seen WxH MODE <digest>"`` and keeps every image it was shown."""

    name = "recording"
    batch_size = 4

    def __init__(self) -> None:
        self.shown: list[Image.Image] = []

    @property
    def settings(self) -> dict[str, Any]:
        return {"backend": "recording"}

    def caption(self, images, prompts, classnames=None) -> list[str]:
        self.shown += list(images)
        return [f"seen {i.width}x{i.height} {i.mode} {image_digest(i)[:8]}" for i in images]
