"""Reproducible builds: the same code gives the same weights, build after build and machine after machine.

Every random draw of a build comes from a generator seeded by the recipe; torch's global generator
(model initialisation) is seeded inside the build and restored after it; torch runs its
deterministic algorithms with a fixed number of threads, since a float sum split over a different
number of threads rounds differently. CPUs of another instruction-set family (AVX-512 against AVX2,
ARM) may still round differently; the shipped weights spare them the build.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

#: Intra-op threads of every build: fixed, so the weights do not depend on the machine's core count. One
#: thread: a build never waits on a second thread that a busy machine has not scheduled, and the CLIP
#: and VLM builds can run side by side (``make models`` runs them so).
BUILD_THREADS = 1

#: The device every build runs on: a GPU build rounds differently from a CPU build.
BUILD_DEVICE = "cpu"


@contextlib.contextmanager
def reproducible(seed: int, threads: int = BUILD_THREADS) -> Iterator[torch.Generator]:
    """Run a build deterministically; restore torch's generator, thread count and algorithm choice after.

    Args:
        seed: seeds torch's global generator (model initialisation) and the generator yielded.
        threads: intra-op threads during the build.

    Returns:
        A context manager yielding a CPU ``torch.Generator`` seeded with ``seed``, for data order.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # needed by deterministic cuBLAS
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield torch.Generator().manual_seed(seed)
        finally:
            torch.use_deterministic_algorithms(deterministic_before)
            torch.set_num_threads(threads_before)
