"""Live or static: whether a notebook shows ipywidgets controls, and how progress bars behave.

A person who opens a notebook in JupyterLab gets live controls without editing anything; a
batch gets static figures and quiet logs. The rule (:func:`is_live`):

* ``interactive`` given (True / False) decides;
* else :data:`STATIC_ENV` set in the kernel's environment means static (``mmft_kit batch``
  sets it, with :func:`static_environment`);
* else live when a Jupyter server started the kernel (JupyterLab, Notebook and Voilà set
  ``JPY_SESSION_NAME``), static otherwise (papermill, nbconvert, nbclient, plain Python).

Progress bars are configured through tqdm's own settings: static mode sets ``TQDM_DISABLE``
(tqdm ≥ 4.66 reads ``TQDM_*`` defaults from the environment when it is first imported) and the
Hugging Face hub's ``HF_HUB_DISABLE_PROGRESS_BARS``; live mode leaves ``tqdm.auto`` its
notebook bars.
"""

from __future__ import annotations

import os
import sys
from typing import Mapping

#: Set (to anything but "0" or "") in a kernel's environment: notebooks run static.
STATIC_ENV = "MMFT_KIT_STATIC"
#: Set by a Jupyter server in the environment of every kernel it starts.
SESSION_ENV = "JPY_SESSION_NAME"


def static_environment() -> dict[str, str]:
    """The environment variables that make a kernel's notebooks static and its logs free of progress bars."""
    return {STATIC_ENV: "1", "TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}


def is_live(interactive: bool | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether widgets are live: ``interactive`` when given, else by the environment (module docstring)."""
    if interactive is not None:
        return interactive
    environ = os.environ if environ is None else environ
    if environ.get(STATIC_ENV, "") not in ("", "0"):
        return False
    return bool(environ.get(SESSION_ENV))


def configure_progress(live: bool) -> None:
    """Static: turn tqdm's bars off by its own ``TQDM_DISABLE`` setting (and the hub's and transformers'
    bars); live: leave them on. tqdm reads the setting when first imported, so this runs before the
    kit's modules are (a notebook's set-up cell comes first); in a batch the kernel starts with it."""
    if live:
        return
    for name, value in static_environment().items():
        if name != STATIC_ENV:
            os.environ.setdefault(name, value)
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()
