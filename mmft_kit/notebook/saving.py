"""Saving a notebook from JupyterLab without what running it added, so the tracked ``.ipynb`` stays source.

``make lab`` starts JupyterLab with ``jupyter_server_config.py`` (repository root), which sets
:func:`strip_before_save` as the contents manager's ``pre_save_hook``: every save writes the
notebook as ``make notebooks`` leaves it — no outputs or execution counts, cell metadata cut to
``tags`` (what jupytext pairs), the kernel's ``language_info`` cut to its name, no widget state —
while the open notebook keeps its outputs until it is closed. Git then sees a change only where a
cell's text changed, and the notebook tests read a clean file. A run's figures and metrics are kept
under ``runs/`` (see :func:`mmft_kit.notebook.start_notebook`), not in the notebook.
"""

from __future__ import annotations

from typing import Any

#: Cell metadata a saved notebook keeps (jupytext's ``cell_metadata_filter`` keeps the same).
KEPT_CELL_METADATA = ("tags",)
#: Notebook metadata a saved notebook keeps; ``language_info`` keeps only its ``name``.
KEPT_NOTEBOOK_METADATA = ("kernelspec", "jupytext", "language_info")


def strip_notebook(notebook: dict[str, Any]) -> dict[str, Any]:
    """Remove outputs, execution counts and run-time metadata from a notebook's JSON content, in place.

    Args:
        notebook: an nbformat 4 notebook as a dict (a contents model's ``content``).

    Returns:
        The same dict.
    """
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in KEPT_CELL_METADATA}
    metadata = notebook.setdefault("metadata", {})
    for key in [k for k in metadata if k not in KEPT_NOTEBOOK_METADATA]:
        del metadata[key]
    if "language_info" in metadata:
        metadata["language_info"] = {"name": metadata["language_info"].get("name", "python")}
    return notebook


def strip_before_save(model: dict[str, Any], **_: Any) -> None:
    """A Jupyter contents manager ``pre_save_hook``: strip notebooks (:func:`strip_notebook`), leave other files."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        strip_notebook(model["content"])
