"""One execution of a notebook: its parameters, its output folder, the figures it saved and its metrics."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..errors import InvalidInputError
from ..io import atomic_write_json
from .params import NotebookParams

#: The file every notebook writes its headline metrics to, in its output folder.
METRICS_NAME = "metrics.json"


@dataclass
class NotebookRun:
    """A notebook's checked parameters (``params``), whether its widgets are ``live``, its output folder."""

    name: str
    params: NotebookParams
    live: bool
    output_dir: Path
    started: float = field(default_factory=time.perf_counter)
    figures: list[str] = field(default_factory=list)

    def path(self, name: str) -> Path:
        """A file in the output folder."""
        return self.output_dir / name

    def show(self, figure, name: str, display: bool = True) -> None:
        """Save ``figure`` as ``NAME.png`` in the output folder, display it (unless told not to), close it."""
        import matplotlib.pyplot as plt

        path = self.path(f"{name}.png")
        figure.savefig(path, dpi=100, bbox_inches="tight")
        if path.name not in self.figures:
            self.figures.append(path.name)
        try:
            if display:
                from IPython.display import display as show

                show(figure)
        finally:
            plt.close(figure)

    def finish(self, *metrics: Mapping[str, Any], details: Mapping[str, Any] | None = None, **values: Any) -> None:
        """Write the headline metrics (flat name → number or text: the ``metrics`` mappings merged, e.g. from
        :func:`mmft_kit.report.run_metrics`, then ``values``) and ``details`` to METRICS_NAME, and print the
        headline."""
        merged: dict[str, Any] = {}
        for part in (*metrics, values):
            merged.update(part)
        record = {
            "notebook": self.name,
            "parameters": self.params.model_dump(),
            "metrics": merged,
            "details": dict(details or {}),
            "figures": list(self.figures),
            "seconds": round(time.perf_counter() - self.started, 2),
        }
        atomic_write_json(self.path(METRICS_NAME), record)
        print(f"{self.name}: {len(record['metrics'])} metrics and {len(self.figures)} figures in {self.output_dir} "
              f"({record['seconds']:.0f} s)")
        for key, value in record["metrics"].items():
            shown = f"{value:.4f}" if isinstance(value, float) else "n/a (not measured)" if value is None else value
            print(f"  {key}: {shown}")


def read_metrics(folder: str | os.PathLike) -> dict:
    """The record a notebook wrote to ``folder``/METRICS_NAME."""
    path = Path(folder) / METRICS_NAME
    if not path.is_file():
        raise InvalidInputError(f"no {METRICS_NAME} in {folder}: the notebook did not finish")
    return json.loads(path.read_text(encoding="utf-8"))
