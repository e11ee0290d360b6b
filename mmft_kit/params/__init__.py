"""Typed parameter declarations shared by the notebooks, the trainer's config, the batch runner and the CLIs.

* :mod:`.base` — :class:`Params` (pydantic; reads command-line text; one readable error), and
  :func:`add_arguments` / :func:`from_arguments`, which derive a command line from a model;
* :mod:`.fields` — the groups of fields (data, CLIP, captioner, few-shot, seeds, optimiser) that
  models inherit, each field declared once;
* :mod:`.notebooks` — one model per notebook (:data:`NOTEBOOKS`);
* :mod:`.checks` — checks against the registry and the disk (data sets, models, class sizes).
"""

from .base import Params, add_arguments, from_arguments, from_text
from .fields import (PAPER_SETTINGS, CaptionerParams, ClipParams, DataParams, FewShotParams, OptimParams, SeedParams,
                     SeedsParams)
from .notebooks import NOTEBOOKS, NotebookParams, notebook_params

__all__ = [
    "NOTEBOOKS", "PAPER_SETTINGS", "CaptionerParams", "ClipParams", "DataParams", "FewShotParams", "NotebookParams",
    "OptimParams", "Params", "SeedParams", "SeedsParams", "add_arguments", "from_arguments", "from_text",
    "notebook_params",
]
