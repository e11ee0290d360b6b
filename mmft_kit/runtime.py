"""Device choice, seeding and offline-friendly network settings."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``device`` as a torch.device; ``None`` picks CUDA when present, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def limit_hub_timeouts(seconds: int = 10) -> None:
    """Keep Hugging Face hub calls from hanging for long where no network is reachable.

    Users may still override these by setting the variables themselves.
    """
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(seconds))
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(seconds))
