"""Plots only: data in, a matplotlib ``Figure`` out, by topic. Nothing here loads or runs a model.

The numbers they draw are computed where their concepts live: caption statistics and previews in
:mod:`mmft_kit.captions.statistics` / :mod:`mmft_kit.captions.preview`, CLIP scores in
:mod:`mmft_kit.inference`, embedding views and projections in :mod:`mmft_kit.embeddings` and
:mod:`mmft_kit.train.inspect`, the gate view in :mod:`mmft_kit.pare.inspect`, PaRe's gate diagnostics in
:mod:`mmft_kit.pare.diagnostics`, shifted accuracy and WiSE-FT curves in a run's ``extra``. The core never
imports this package; :meth:`mmft_kit.notebook.NotebookRun.show` saves and shows a figure,
:mod:`mmft_kit.widgets` redraws one when a control changes.
"""

from .captions import caption_figure, preview_figure
from .embeddings import embedding_figure
from .images import as_picture, caption_grid
from .pare import (gate_diagnostics, gate_figure, mechanism_auroc, paired_intervals, pare_curves, score_maps,
                   steering)
from .prompts import prompt_score_bars, score_vs_finetuned
from .robustness import shift_bars, wise_ft_shift_figure
from .style import describe_runs
from .tables import table
from .training import accuracy_figure, confusion_figure, learning_curves

__all__ = ["accuracy_figure", "as_picture", "caption_figure", "caption_grid", "confusion_figure", "describe_runs",
           "embedding_figure", "gate_diagnostics", "gate_figure", "learning_curves", "mechanism_auroc",
           "paired_intervals", "pare_curves", "preview_figure", "prompt_score_bars", "score_maps", "score_vs_finetuned",
           "shift_bars", "steering", "table", "wise_ft_shift_figure"]
