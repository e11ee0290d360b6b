"""Device choice, seeding and offline-friendly network settings."""

from __future__ import annotations

import os
import random
import socket
from urllib.parse import urlparse

import numpy as np
import torch
import torch.distributed as dist


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


def hub_reachable(timeout: float = 5.0) -> bool:
    """Whether the Hugging Face hub's host answers a TCP connection (assumed so behind a proxy).

    The hub client retries every file several times with back-off when the network is down,
    which takes minutes; one probe tells at once.
    """
    from huggingface_hub import constants

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
    except OSError:
        return False
    return True


def bar_options(progress: bool = True) -> dict:
    """tqdm keyword arguments for a bar its caller may turn off: ``disable=True`` when ``progress`` is False or
    tqdm's own ``TQDM_DISABLE`` setting is on (a batch's notebooks run with it; ``tqdm.notebook`` sets
    ``disable`` itself and so ignores the variable), otherwise none: tqdm's other ``TQDM_*`` settings apply."""
    quiet = not progress or os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")
    return {"disable": True} if quiet else {}

def init_distributed(device: str | torch.device | None = None) -> bool:
    """Join the process group when started by torchrun (or srun with torchrun's variables); True if joined.

    NCCL when ``device`` (default: CUDA when present) is a GPU, each process on the GPU of its
    ``LOCAL_RANK``; gloo on CPU. The rendezvous comes from the launcher's environment
    (``MASTER_ADDR``/``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``). A single process, or a group
    already joined, is left as it is.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available() or dist.is_initialized():
        return dist.is_available() and dist.is_initialized()
    if resolve_device(device).type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True
