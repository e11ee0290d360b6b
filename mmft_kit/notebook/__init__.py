"""Notebook support: the set-up cell (:func:`start_notebook`), the run's folder, figures and metrics
(:class:`NotebookRun`), and live-or-static mode with the progress settings (:mod:`.mode`).

The core never imports this package; notebooks, the batch runner and the tests do.
"""

from .mode import STATIC_ENV, configure_progress, is_live, static_environment
from .run import METRICS_NAME, NotebookRun, read_metrics
from .start import environment_line, start_notebook

__all__ = ["METRICS_NAME", "STATIC_ENV", "NotebookRun", "configure_progress", "environment_line", "is_live",
           "read_metrics", "start_notebook", "static_environment"]
