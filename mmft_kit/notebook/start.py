"""The set-up cell of every notebook: environment, parameters, live or static, progress, output folder."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from ..errors import InvalidInputError
from .checks import check_resources
from .mode import configure_progress, is_live
from .params import NotebookParams, notebook_params
from .run import NotebookRun


#: Where notebooks write their run folders (``RUNS_DIR/<notebook>``), in the project folder, as batch and train do.
RUNS_DIR = "runs"


def project_folder(cwd: Path | None = None) -> Path:
    """The folder relative output paths start from: the working directory, or the kit's repository when
    the kernel runs in its ``notebooks/`` folder (JupyterLab starts kernels beside the notebook), so a
    notebook writes ``runs/<notebook>`` at the repository root whether JupyterLab, papermill or batch runs it."""
    cwd = Path.cwd() if cwd is None else cwd
    return cwd.parent if cwd.name == "notebooks" and (cwd / "jupytext.toml").is_file() else cwd


def environment_line() -> str:
    """The interpreter, its environment and the kit's version, in one line."""
    from .. import __version__

    return f"python {sys.version.split()[0]} at {sys.executable} (prefix {sys.prefix}); mmft_kit {__version__}"


def parameter_lines(params: NotebookParams, given: set[str]) -> list[str]:
    """One line per parameter: name, value, ``*`` where it differs from the declared default, meaning."""
    lines = []
    for name, field in type(params).model_fields.items():
        value = getattr(params, name)
        mark = "*" if name in given and value != field.default else " "
        lines.append(f" {mark} {name} = {value!r}  # {field.description}")
    return lines


def start_notebook(name: str, namespace: Mapping[str, Any], model: type[NotebookParams] | None = None) -> NotebookRun:
    """Show the environment, read and check notebook ``name``'s parameters, set live or static mode and the
    progress bars, and make the output folder (``output_dir``, by default ``runs/<name>``, relative to
    :func:`project_folder`).

    Args:
        name: the notebook's name (its file stem), which names its parameter model
            (:data:`mmft_kit.notebook.NOTEBOOKS`).
        namespace: where the parameters were assigned — the notebook's ``globals()``: every field of
            the model found there is taken (the parameters cell's and papermill's assignments), the
            others keep their declared defaults.
        model: the parameter model of a notebook the kit does not register (a subclass of
            :class:`~mmft_kit.notebook.NotebookParams`); None: the registered one.

    Returns:
        The run: ``.params`` (validated), ``.live``, ``.path(...)``, ``.show(...)``, ``.finish(...)``.
    """
    model = model or notebook_params(name)
    if model is None:
        raise InvalidInputError(f"no parameter model for notebook {name!r}; add one to mmft_kit/notebook/params.py")
    print(environment_line())
    given = {key: namespace[key] for key in model.model_fields if key in namespace}
    params = model(**given)
    print("parameters (* changed from the default):\n" + "\n".join(parameter_lines(params, set(given))))
    live = is_live(params.interactive)
    configure_progress(live)
    check_resources(params.model_dump())
    print("widgets: " + ("live controls" if live else "static figures (set interactive = True for controls)"))
    output_dir = project_folder() / Path(params.output_dir or f"{RUNS_DIR}/{name}").expanduser()
    output_dir.mkdir(parents=True, exist_ok=True)
    if "log_dir" in model.model_fields and params.log_dir is None:  # report_to's logs beside the figures
        params.log_dir = str(output_dir / "logs")
    return NotebookRun(name, params, live, output_dir)
