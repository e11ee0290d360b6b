"""Settings and fakes every test shares.

* The kit's cache is the test cache: ``$MMFT_KIT_TEST_CACHE`` or ``~/.cache/mmft_kit-tests`` (the ci
  models are built there once and reused), never the user's ``~/.cache/mmft_kit``.
* One thread per process for torch and the BLAS / OpenMP pools (small models run fastest so, and
  do not stall when other processes share the cores); matplotlib draws off-screen; the Hugging
  Face hub is offline.
* The fake captioners, one family: :class:`FakeCaptioner` (instant and deterministic, reads the prompt) and
  :class:`RecordingCaptioner` (keeps every image it was shown); fixtures ``captioner``, ``make_captioner``,
  ``recording_captioner``.
* For the captioning tests: :class:`FaultyServer` (a chat-completions server that injects :data:`FAULTS`),
  :func:`write_image_folder`, :func:`write_bad_files` (every kind of :data:`BAD_FILES`).
* :func:`tiny_clip`: a random 1-block CLIP folder (fixture ``tiny_clip_dir``).

Test files import the plain helpers with ``from conftest import ...`` (``tests/`` is on the path).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Sequence

os.environ["MMFT_KIT_CACHE"] = str(Path(os.environ.get("MMFT_KIT_TEST_CACHE", "~/.cache/mmft_kit-tests")).expanduser())
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from mmft_kit.captions import image_digest  # noqa: E402
from mmft_kit.captions.backends import Captioner  # noqa: E402
from mmft_kit.captions.loopback import LoopbackServer, Reply, completion, echo_caption, request_parts  # noqa: E402

torch.set_num_threads(1)
matplotlib.use("Agg")  # in this process only: kernels the tests start keep their inline backend

_PROMPT = re.compile(r"this (.+?) photo .* primary (\w+) characteristics")


class FakeCaptioner(Captioner):
    """Reads the class and the characteristic from the paper's prompt and writes
    ``"{characteristic} caption {n} of a {class} with round edges"``, ``n`` counting the captions it
    wrote (so every image and characteristic gets its own text); a prompt of another template gets
    ``"free-form caption {n}"``. ``calls`` counts prompts."""

    name, batch_size = "fake", 16

    def __init__(self) -> None:
        self.calls = 0

    @property
    def settings(self) -> dict:
        return {"backend": "test", "model": "fake"}

    def caption(self, images, prompts, classnames=None) -> list[str]:
        out = []
        for prompt in prompts:
            found = _PROMPT.search(prompt)
            out.append(f"{found.group(2)} caption {self.calls} of a {found.group(1)} with round edges" if found
                       else f"free-form caption {self.calls}")
            self.calls += 1
        return out


@pytest.fixture
def captioner() -> FakeCaptioner:
    """A fresh :class:`FakeCaptioner`."""
    return FakeCaptioner()


@pytest.fixture(scope="session")
def make_captioner() -> type[FakeCaptioner]:
    """The :class:`FakeCaptioner` class, for fixtures wider than one test."""
    return FakeCaptioner


class RecordingCaptioner(FakeCaptioner):
    """Captions ``"seen WxH MODE <digest>"`` and keeps every image it was shown."""

    name, batch_size = "recording", 4

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[Image.Image] = []

    @property
    def settings(self) -> dict[str, Any]:
        return {"backend": "recording"}

    def caption(self, images, prompts, classnames=None) -> list[str]:
        self.shown += list(images)
        self.calls += len(prompts)
        return [f"seen {i.width}x{i.height} {i.mode} {image_digest(i)[:8]}" for i in images]


@pytest.fixture
def recording_captioner() -> RecordingCaptioner:
    """A fresh :class:`RecordingCaptioner`."""
    return RecordingCaptioner()


# -- PaRe: a small body and source shared by its test modules -------------------------------------------------
@pytest.fixture(scope="module")
def body():
    """A one-layer ViT body (the same weights in every module)."""
    from mmft_kit.pare import tiny_vit

    torch.manual_seed(0)
    return tiny_vit(width=32, layers=1, heads=2)


@pytest.fixture(scope="module")
def source():
    """64 world images as PaRe's source modality."""
    from mmft_kit.pare import world_source

    return world_source(count=64, seed=0)


# -- captioning: a faulty server and image folders ---------------------------------------------------------
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


# -- a tiny CLIP ------------------------------------------------------------------------------------
def tiny_clip(folder: Path) -> Path:
    """A random 1-block CLIP (32-wide towers, patch 8 on 32²) as an open_clip local-dir folder.

    Args:
        folder: where to write it (must not exist yet).

    Returns:
        ``folder``, for ``--clip local-dir:FOLDER``.
    """
    import open_clip

    cfg = {"embed_dim": 32,
           "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
           "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    torch.manual_seed(0)
    model = open_clip.model.CLIP(**cfg)
    folder.mkdir(parents=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    torch.save(model.state_dict(), folder / "open_clip_pytorch_model.bin")
    return folder


@pytest.fixture
def tiny_clip_dir(tmp_path) -> Path:
    """A :func:`tiny_clip` folder under the test's ``tmp_path``."""
    return tiny_clip(tmp_path / "tiny_clip")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def jupyterlab_server(args: Sequence[str], env: dict[str, str], cwd: Path, log_path: Path, token: str):
    """A JupyterLab server on 127.0.0.1 (``python -m jupyterlab`` with ``args``); yields its base URL once
    ``/api/status`` answers, and stops it after."""
    import subprocess
    import sys
    import urllib.request

    port = free_port()
    log = log_path.open("w")
    server = subprocess.Popen([sys.executable, "-m", "jupyterlab", *args, "--no-browser", "--ip=127.0.0.1",
                               f"--port={port}", f"--IdentityProvider.token={token}", "--allow-root"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"JupyterLab exited: {log_path.read_text()[-2000:]}")
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
