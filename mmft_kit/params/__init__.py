"""Typed parameter declarations shared by the run configs, the notebooks, the batch runner and the CLIs.

* :mod:`.base` — :class:`Params` (pydantic; reads command-line text; one readable error),
  :func:`add_arguments` / :func:`from_arguments`, which derive a command line from a model, and
  :func:`redefault` / :func:`bounds`, which reuse a declaration;
* :mod:`.fields` — the groups of fields (run, data, CLIP, captioner, few-shot, seeds, optimiser) that
  models inherit, each field declared once;
* :mod:`.captions` — the caption command's parameters.

The notebooks' models live with the notebook support (:mod:`mmft_kit.notebook.params`).
"""

from .base import Params, add_arguments, bounds, from_arguments, from_text, read_arguments, redefault
from .fields import (PAPER_SETTINGS, PAPER_WORDS, CaptionerParams, ClipParams, DataParams, DeviceParams, FewShotParams,
                     OptimParams, RunParams, SeedParams, SeedsParams)

__all__ = [
    "PAPER_SETTINGS", "PAPER_WORDS", "CaptionerParams", "ClipParams", "DataParams", "DeviceParams", "FewShotParams",
    "OptimParams", "Params", "RunParams", "SeedParams", "SeedsParams", "add_arguments", "bounds", "from_arguments",
    "from_text", "read_arguments", "redefault",
]
