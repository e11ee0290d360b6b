"""Run notebooks over a parameter grid with papermill and collect their metrics into one table.

A grid is fixed parameters plus axes (parameter → list of values); every combination of the
axes is one point. Each notebook runs once per point that differs in parameters it has (an
axis a notebook lacks does not multiply its runs), into its own folder::

    runs/<name>/<notebook>/<point>/<notebook>.ipynb   the executed copy
    runs/<name>/<notebook>/<point>/metrics.json       what the notebook measured (its output_dir)

    runs/<name>/<notebook>/<point>/point.json         its parameters, kit version and outcome

A failing point is recorded with the error and the batch carries on. At the end the metrics
of every point are collected into ``results.csv`` and ``results.md``, and ``summary.md``
holds the headline table, the failures and the figures.

Running the same batch again skips every point that succeeded with the same parameters, the same
notebook and the same kit version (``rerun=True`` runs them anyway), so an interrupted sweep
continues where it stopped. Points run one at a time, in ``workers`` processes on this machine,
or as a SLURM job array through submitit (:mod:`mmft_kit.dispatch`); the folder layout is the same.

Grid files (YAML or JSON)::

    notebooks: [notebooks/03_few_shot_finetuning.ipynb]   # optional
    parameters: {dataset: glyphs, epochs: 5}              # the same at every point
    grid: {shots: [1, 2, 4], seeds: [[0], [1]]}           # every combination

A file without ``parameters`` / ``grid`` keys is read as a grid: its list values are axes, the
other values fixed. A parameter whose value is itself a list (``seeds``, ``methods``) goes under
``parameters``, or as a list of lists under ``grid``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import yaml

from . import __version__
from .dispatch import ClusterOptions, dispatch
from .errors import InvalidInputError, MMFTKitError
from .io import atomic_write_json, atomic_write_text
from .notebook.mode import static_environment
from .notebook.run import read_metrics
from .notebook.params import notebook_params
from .report import csv_text, markdown_table

KERNEL_NAME = "python3"
RESULTS_CSV, RESULTS_MD, SUMMARY_MD, RECORD_JSON = "results.csv", "results.md", "summary.md", "batch.json"
POINT_JSON = "point.json"
_GRID_KEYS = {"notebooks", "parameters", "grid", "name"}


@dataclass
class Grid:
    """Fixed parameters, axes, and optionally notebooks and a name (from a grid file)."""

    fixed: dict[str, Any] = field(default_factory=dict)
    axes: dict[str, list] = field(default_factory=dict)
    notebooks: list[str] = field(default_factory=list)
    name: str | None = None

    def points(self) -> list[dict[str, Any]]:
        """Every combination of the axes, each with the fixed parameters."""
        names = list(self.axes)
        return [{**self.fixed, **dict(zip(names, values))} for values in itertools.product(*self.axes.values())]


def load_grid(path: str | os.PathLike) -> Grid:
    """Read a grid file (YAML or JSON; see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"grid file {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise InvalidInputError(f"grid file {path} must hold a mapping (parameters, grid, notebooks)")
    if set(data) & {"parameters", "grid"}:
        unknown = set(data) - _GRID_KEYS
        if unknown:
            raise InvalidInputError(f"grid file {path}: unknown keys {sorted(unknown)}; use {sorted(_GRID_KEYS)}")
        fixed, axes = dict(data.get("parameters") or {}), dict(data.get("grid") or {})
    else:
        rest = {k: v for k, v in data.items() if k not in ("notebooks", "name")}
        fixed = {k: v for k, v in rest.items() if not isinstance(v, list)}
        axes = {k: v for k, v in rest.items() if isinstance(v, list)}
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise InvalidInputError(f"grid file {path}: axis {name!r} must be a non-empty list of values")
    notebooks = data.get("notebooks") or []
    notebooks = [notebooks] if isinstance(notebooks, str) else list(notebooks)
    return Grid(fixed, axes, [str(path.parent / n) if not Path(n).is_absolute() else n for n in notebooks],
                data.get("name"))


def parse_value(text: str) -> Any:
    """A command-line value read as YAML: ``4`` → 4, ``true`` → True, ``[0, 1]`` → a list, ``glyphs`` → text."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def find_notebooks(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The notebooks named, a folder standing for its ``*.ipynb`` files (sorted)."""
    found: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            found += sorted(p for p in path.glob("*.ipynb") if not p.name.startswith("."))
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
        else:
            raise InvalidInputError(f"{path} is neither a notebook (.ipynb) nor a folder of notebooks")
    if not found:
        raise InvalidInputError("no notebooks to run: name .ipynb files or a folder holding them")
    return list(dict.fromkeys(found))


def _papermill():
    """papermill (part of the ``notebooks`` extra), or an error saying how to install it."""
    try:
        import papermill
    except ImportError:
        raise MMFTKitError("running notebooks needs papermill, part of the 'notebooks' extra: "
                           "pip install 'mmft_kit[notebooks]' (make install has it)") from None
    return papermill


def notebook_parameters(path: Path) -> dict[str, Any]:
    """The parameters a notebook takes (name → default): its model's fields for the kit's notebooks
    (:data:`mmft_kit.notebook.NOTEBOOKS`), else what its ``parameters`` cell assigns."""
    model = notebook_params(path.stem)
    if model is not None:
        return {name: field.default for name, field in model.model_fields.items()}
    papermill = _papermill()

    declared = papermill.inspect_notebook(str(path))
    if not declared:
        raise InvalidInputError(f"{path} has no cell tagged 'parameters': papermill cannot set its parameters")
    return {name: info["default"] for name, info in declared.items()}


def _slug(parameters: Mapping[str, Any]) -> str:
    text = ",".join(f"{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in parameters.items())
    return re.sub(r"[^A-Za-z0-9=,._-]+", "", text)[:80] or "default"


@dataclass
class Point:
    """One notebook at one grid point: its parameters (those the notebook has) and its folder."""

    notebook: Path
    label: str
    parameters: dict[str, Any]
    varying: dict[str, Any]
    folder: Path

    @property
    def executed(self) -> Path:
        return self.folder / self.notebook.name

    def identity(self) -> dict[str, Any]:
        """What makes a finished point reusable: its parameters (bar its folder), notebook and kit version."""
        return {"parameters": {k: v for k, v in self.parameters.items() if k != "output_dir"},
                "notebook_sha256": hashlib.sha256(self.notebook.read_bytes()).hexdigest(),
                "kit_version": __version__}


def plan(notebooks: Sequence[Path], grid: Grid, folder: Path) -> list[Point]:
    """The points to run: per notebook, the distinct grid points restricted to the notebook's parameters."""
    declared = {nb: notebook_parameters(nb) for nb in notebooks}
    every = set().union(*map(set, declared.values()))
    unknown = sorted((set(grid.fixed) | set(grid.axes)) - every)
    if unknown:
        raise InvalidInputError(
            f"parameters {unknown} belong to none of the notebooks; their parameters are {sorted(every)}"
        )
    points: list[Point] = []
    for notebook in notebooks:
        names = declared[notebook]
        seen: list[dict] = []
        for full in grid.points():
            own = {k: v for k, v in full.items() if k in names and k != "output_dir"}
            if own in seen:
                continue
            seen.append(own)
            varying = {k: v for k, v in own.items() if k in grid.axes}
            label = f"{len(seen) - 1:02d}-{_slug(varying)}" if varying else "default"
            target = folder / notebook.stem / label
            points.append(Point(notebook, label, {**own, "output_dir": str(target.resolve())}, varying, target))
    check_points(points)
    return points


def check_points(points: Sequence[Point]) -> None:
    """Validate every point's parameters against its notebook's model before anything runs: one error
    naming each bad point and value (types and ranges; data sets and models are checked in the notebook)."""
    problems = []
    for point in points:
        model = notebook_params(point.notebook.stem)
        if model is None:
            continue
        try:
            model(**point.parameters)
        except InvalidInputError as exc:
            problems.append(f"{point.notebook.stem} {point.label}: {exc}")
    if problems:
        raise InvalidInputError("the grid has bad parameters; nothing was run:\n" + "\n".join(problems))


def _kernel_environment() -> None:
    """Make the ``python3`` kernel this interpreter: its environment's kernelspec comes first."""
    share = str(Path(sys.prefix) / "share" / "jupyter")
    paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
    if share not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([share, *[p for p in paths if p]])


class _DeclaredParameters(logging.Filter):
    """Drops papermill's "Passed unknown parameter" warning: by design a notebook's parameters cell assigns
    none of them (``start_notebook`` reads each against the notebook's model; :func:`check_points` checked
    the grid before anything ran), so every injected parameter would be reported as unknown."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passed unknown parameter")


#: The kernel's own start-up warnings (e.g. ipykernel's note on local TCP transport) are left out of the log.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


@contextmanager
def _static_kernels() -> Iterator[None]:
    """Kernels started inside run static (no widgets, no progress bars): the variables are set around the start."""
    saved = {name: os.environ.get(name) for name in static_environment()}
    os.environ.update(static_environment())
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute(notebook: str | os.PathLike, output: str | os.PathLike, parameters: Mapping[str, Any],
            timeout: float | None = None, log_output: bool = False, cwd: str | os.PathLike | None = None):
    """Execute ``notebook`` with ``parameters`` into ``output`` with papermill on this environment's kernel,
    static (see :mod:`mmft_kit.notebook.mode`).

    Raises papermill's PapermillExecutionError when a cell fails (the executed copy is written).
    """
    papermill = _papermill()
    papermill_log = logging.getLogger("papermill")
    if not any(isinstance(f, _DeclaredParameters) for f in papermill_log.filters):
        papermill_log.addFilter(_DeclaredParameters())
    _kernel_environment()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with _static_kernels():
        return papermill.execute_notebook(
            str(notebook), str(output), parameters=dict(parameters), kernel_name=KERNEL_NAME, language="python",
            progress_bar=False, log_output=log_output, execution_timeout=timeout, cwd=cwd, start_timeout=180,
            extra_arguments=KERNEL_ARGUMENTS,
        )


@dataclass
class Outcome:
    """What happened at one point."""

    notebook: str
    label: str
    folder: str
    varying: dict[str, Any]
    status: str
    seconds: float
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)


def failure_message(exc: BaseException) -> str:
    """One readable line for a failed point: the error raised in the notebook, and where."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename is not None:
        cell = getattr(exc, "exec_count", None)
        return f"{ename}: {evalue}" + (f" (cell [{cell}])" if cell is not None else "")
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def run_point(point: Point, timeout: float | None = None, log_output: bool = False) -> Outcome:
    """Execute one point and record its outcome in its folder; a failure is caught and recorded, never raised."""
    start = time.perf_counter()
    try:
        execute(point.notebook, point.executed, point.parameters, timeout=timeout, log_output=log_output)
        record = read_metrics(point.folder)
    except Exception as exc:  # a failing point is reported, the batch goes on
        outcome = _outcome(point, "failed", time.perf_counter() - start, error=failure_message(exc))
    else:
        outcome = _outcome(point, "ok", time.perf_counter() - start, metrics=record.get("metrics", {}),
                           figures=record.get("figures", []))
    atomic_write_json(point.folder / POINT_JSON, {**point.identity(), "outcome": asdict(outcome)})
    return outcome


def _outcome(point: Point, status: str, seconds: float, **details) -> Outcome:
    return Outcome(notebook=point.notebook.stem, label=point.label, folder=str(point.folder), varying=point.varying,
                   status=status, seconds=seconds, **details)


def finished(point: Point) -> Outcome | None:
    """The recorded outcome of ``point`` when it succeeded with the same parameters, notebook and kit
    version; else ``None`` (never run, failed, interrupted, or run with something else)."""
    try:
        record = json.loads((point.folder / POINT_JSON).read_text())
    except (OSError, ValueError):
        return None
    identity = point.identity()
    if any(record.get(key) != value for key, value in identity.items()):
        return None
    outcome = Outcome(**record["outcome"])
    return outcome if outcome.status == "ok" else None


@dataclass
class BatchReport:
    """Every point's outcome and where the tables went."""

    name: str
    folder: Path
    outcomes: list[Outcome]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "ok"]

    def summary_line(self) -> str:
        ok = len(self.outcomes) - len(self.failed)
        return f"{ok} of {len(self.outcomes)} runs succeeded; results in {self.folder}"


def rows(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One flat row per point: notebook, point, status, seconds, varying parameters, metrics, error."""
    table = []
    for o in outcomes:
        row = {"notebook": o.notebook, "point": o.label, "status": o.status, "seconds": round(o.seconds, 1)}
        row.update({f"param.{k}": json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in o.varying.items()})
        row.update(o.metrics)
        if o.error:
            row["error"] = o.error
        table.append(row)
    return table


def tables_markdown(table: Sequence[Mapping[str, Any]]) -> str:
    """One Markdown table per notebook (each with its own metric columns), under a heading each."""
    parts = []
    for notebook in dict.fromkeys(row["notebook"] for row in table):
        own = [{k: v for k, v in row.items() if k != "notebook"} for row in table if row["notebook"] == notebook]
        parts += [f"### {notebook}", "", markdown_table(own), ""]
    return "\n".join(parts)


def _figures_markdown(outcomes: Sequence[Outcome], folder: Path) -> list[str]:
    lines = []
    for o in outcomes:
        if o.status != "ok" or not o.figures:
            continue
        title = o.notebook + ("" if o.label == "default" else f" ({o.label})")
        lines += [f"### {title}", ""]
        for name in o.figures:
            relative = os.path.relpath(Path(o.folder) / name, folder)
            lines += [f"![{name}]({relative})", ""]
    return lines


def write_results(report: BatchReport) -> None:
    """``results.csv`` (one row per point), ``results.md`` (a table per notebook), ``batch.json`` and
    ``summary.md`` (the tables, the failures and the figures) in the batch folder."""
    table = rows(report.outcomes)
    tables = tables_markdown(table)
    atomic_write_text(report.folder / RESULTS_CSV, csv_text(table))
    atomic_write_text(report.folder / RESULTS_MD, tables)
    atomic_write_json(report.folder / RECORD_JSON,
                      {"name": report.name, "outcomes": [asdict(o) for o in report.outcomes]})
    lines = [f"# Batch `{report.name}`", "", report.summary_line().split(";")[0] + ".", "", "## Results", "", tables]
    if report.failed:
        lines += ["## Failures", ""]
        lines += [f"- **{o.notebook} {o.label}**: {o.error} — see `{Path(o.folder).name}/{o.notebook}.ipynb`"
                  for o in report.failed]
        lines.append("")
    figures = _figures_markdown(report.outcomes, report.folder)
    if figures:
        lines += ["## Figures", "", *figures]
    atomic_write_text(report.folder / SUMMARY_MD, "\n".join(lines))


def run_batch(notebooks: Sequence[str | os.PathLike], grid: Grid | None = None, name: str | None = None,
              runs_dir: str | os.PathLike = "runs", timeout: float | None = None, log_output: bool = False,
              echo=lambda line: print(line, flush=True), rerun: bool = False, workers: int = 1,
              executor: str = "local", cluster: ClusterOptions | None = None) -> BatchReport:
    """Run every notebook at every grid point, carrying on past failures; write the tables; return the report.

    Args:
        notebooks: notebooks or folders of notebooks (default: the grid's).
        grid: fixed parameters and axes.
        name: the batch folder's name under ``runs_dir`` (default: the grid's, else a timestamp).
        runs_dir: where batch folders go.
        timeout: seconds one cell may run.
        log_output: echo the notebooks' output.
        echo: where progress lines go.
        rerun: run points that already succeeded with the same parameters too.
        workers: points at once on this machine (``executor="local"``).
        executor: ``local``, ``slurm`` (a submitit job array) or ``submitit-local`` (see :mod:`mmft_kit.dispatch`).
        cluster: what each SLURM job asks for.

    Returns:
        Every point's outcome, in plan order, whichever order they ran in.
    """
    grid = grid or Grid()
    found = find_notebooks(list(notebooks) or grid.notebooks)
    name = name or grid.name or time.strftime("batch-%Y%m%d-%H%M%S")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise InvalidInputError(f"batch name {name!r}: use letters, digits, '.', '_' and '-' only")
    folder = Path(runs_dir) / name
    points = plan(found, grid, folder)
    folder.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome | None] = [None if rerun else finished(point) for point in points]
    todo = [i for i, outcome in enumerate(outcomes) if outcome is None]
    if len(todo) < len(points):
        echo(f"{len(points) - len(todo)} of {len(points)} points already done (same parameters and kit version): "
             f"skipped; rerun=True / --rerun runs them again")

    def started(index: int) -> None:
        i = todo[index]
        echo(f"[{i + 1}/{len(points)}] {points[i].notebook.stem} {points[i].label} -> {points[i].executed} ...")

    def lost(index: int, error: BaseException) -> Outcome:
        return _outcome(points[todo[index]], "failed", 0.0, error=f"job lost: {failure_message(error)}")

    job = functools.partial(run_point, timeout=timeout, log_output=log_output)
    for index, outcome in dispatch(job, [points[i] for i in todo], workers=workers, executor=executor,
                                   folder=folder / ".jobs", cluster=cluster, on_lost=lost, on_start=started):
        i = todo[index]
        outcomes[i] = outcome
        echo(f"[{i + 1}/{len(points)}] {outcome.notebook} {outcome.label}: {outcome.status} ({outcome.seconds:.0f} s)"
             + (f" — {outcome.error}" if outcome.error else ""))
    report = BatchReport(name, folder, outcomes)
    write_results(report)
    return report
