"""Settings and fakes every test shares.

* The kit's cache is the test cache: ``$MMFT_KIT_TEST_CACHE`` or ``~/.cache/mmft_kit-tests`` (the ci
  models are built there once and reused), never the user's ``~/.cache/mmft_kit``.
* One thread per process for torch and the BLAS / OpenMP pools (small models run fastest so, and
  do not stall when other processes share the cores); matplotlib draws off-screen; the Hugging
  Face hub is offline.
* :class:`FakeCaptioner`: the one fake captioner, instant and deterministic.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

os.environ["MMFT_KIT_CACHE"] = str(Path(os.environ.get("MMFT_KIT_TEST_CACHE", "~/.cache/mmft_kit-tests")).expanduser())
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import matplotlib  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mmft_kit.captions.backends import Captioner  # noqa: E402

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
