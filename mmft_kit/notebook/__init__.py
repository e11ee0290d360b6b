"""Notebook support: each notebook's parameter model (:mod:`.params`) and the checks of their values against
the disk (:mod:`.checks`), the set-up cell (:func:`start_notebook`), the run's folder, figures and metrics
(:class:`NotebookRun`), and live-or-static mode with the progress settings (:mod:`.mode`).

The core never imports this package; notebooks, the widgets, the batch runner and the tests do.
"""

from .checks import check_resources
from .mode import STATIC_ENV, configure_progress, is_live, static_environment
from .params import NOTEBOOKS, NotebookParams, notebook_params
from .run import METRICS_NAME, NotebookRun, read_metrics
from .start import environment_line, start_notebook

__all__ = ["METRICS_NAME", "NOTEBOOKS", "STATIC_ENV", "NotebookParams", "NotebookRun", "check_resources",
           "configure_progress", "environment_line", "is_live", "notebook_params", "read_metrics", "start_notebook",
           "static_environment"]
