"""Which body a PaRe run started from: its name, the recipe hash of an embedded build, and a checksum of its
weights, so results of different bodies are never pooled (:func:`check_one_body`)."""

from __future__ import annotations

import hashlib
from typing import Iterable

import torch
from torch import nn

from ..errors import InvalidInputError

#: The attribute :func:`~mmft_kit.pare.bodies.load_body` tags a loaded body with (the name it was loaded by).
SPEC_ATTRIBUTE = "mmft_body_spec"


def weights_checksum(module: nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of a module's state dict: names, shapes, dtypes and bytes, in order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(value.shape)}:{value.dtype}".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()[:16]


def recipe_hash(spec: str | None) -> str | None:
    """The recipe hash of the embedded CLIP build named by ``spec`` (``embedded``, ``embedded:ci``); ``None`` for
    other bodies (their weights checksum identifies them)."""
    from ..models import embedded_size

    size = embedded_size(spec) if spec else None
    if size is None:
        return None
    from ..zoo import ensure_clip, shipped_hash

    return shipped_hash(ensure_clip(size, progress=False))


def body_record(module: nn.Module) -> dict:
    """``{"body", "recipe_hash", "weights_sha256"}`` of a body module (``body`` is the name it was loaded by, or
    ``None`` for a module built elsewhere)."""
    spec = getattr(module, SPEC_ATTRIBUTE, None)
    return {"body": spec, "recipe_hash": recipe_hash(spec), "weights_sha256": weights_checksum(module)}


def check_one_body(records: Iterable[dict], expected: dict | None = None) -> dict | None:
    """The one body record all ``records`` (run dicts with ``extra["body"]``) share, also with ``expected``.

    Raises:
        InvalidInputError: runs of different bodies (or runs without a body record) among them.
    """
    seen = {}
    for row in records:
        body = row.get("extra", {}).get("body")
        key = body["weights_sha256"] if body else None
        seen.setdefault(key, body)
    if expected is not None:
        seen.setdefault(expected["weights_sha256"], expected)
    if len(seen) > 1:
        names = ", ".join(f"{b['body']} (recipe {b['recipe_hash']}, weights {k})" if b else "unrecorded"
                          for k, b in seen.items())
        raise InvalidInputError(f"these PaRe results come from different bodies: {names}. Results of one body only "
                                "can be compared: write to another folder (--out) or delete the runs of the other body")
    return next(iter(seen.values()), None)
