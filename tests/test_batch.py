"""The batch runner: grids from files and the command line, one executed copy per point, carrying on past
a failing point, the results table and the summary — on two tiny notebooks (no models)."""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import nbformat
import pytest

from mmft_kit import batch
from mmft_kit.__main__ import main
from mmft_kit.errors import InvalidInputError

TINY_BODY = """
from mmft_kit.notebook import start_notebook
from mmft_kit.notebook import NotebookParams
class Tiny(NotebookParams):
    seed: int = 0
    words: int = 5
    characteristic: str = "ok"
nb = start_notebook("tiny", globals(), Tiny)
p = nb.params
if p.characteristic == "fail":
    raise ValueError(f"asked to fail at seed {p.seed}")
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([0, p.seed])
nb.show(fig, "line")
nb.finish({"double": 2 * p.seed, "words": p.words, "kind": p.characteristic})
"""


def _notebook(path: Path, parameters: str, body: str) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}}
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notebooks")
    tiny = _notebook(folder / "tiny.ipynb", 'seed = 0\nwords = 5\ncharacteristic = "ok"\noutput_dir = "out"\n'
                     "interactive = False", TINY_BODY)
    other = _notebook(folder / "other.ipynb", 'seed = 0\noutput_dir = "out"\ninteractive = False',
                      'from mmft_kit.notebook import start_notebook\n'
                      'from mmft_kit.notebook import NotebookParams\n'
                      'class Other(NotebookParams):\n    seed: int = 0\n'
                      'nb = start_notebook("other", globals(), Other)\n'
                      'nb.finish({"seed_plus_one": nb.params.seed + 1})')
    return tiny, other


# -- grids ---------------------------------------------------------------------------------------
def test_grid_points_are_every_combination():
    grid = batch.Grid(fixed={"words": 5}, axes={"seed": [0, 1], "characteristic": ["a", "b"]})
    assert grid.points() == [
        {"words": 5, "seed": 0, "characteristic": "a"}, {"words": 5, "seed": 0, "characteristic": "b"},
        {"words": 5, "seed": 1, "characteristic": "a"}, {"words": 5, "seed": 1, "characteristic": "b"},
    ]
    assert batch.Grid().points() == [{}]


def test_load_grid_reads_explicit_and_short_forms(tmp_path):
    explicit = tmp_path / "grid.yaml"
    explicit.write_text("name: sweep\nnotebooks: [a.ipynb]\nparameters: {seeds: [0, 1], epochs: 2}\n"
                        "grid: {shots: [1, 2]}\n")
    grid = batch.load_grid(explicit)
    assert grid.fixed == {"seeds": [0, 1], "epochs": 2} and grid.axes == {"shots": [1, 2]}
    assert grid.name == "sweep" and grid.notebooks == [str(tmp_path / "a.ipynb")]
    short = tmp_path / "grid.json"
    short.write_text(json.dumps({"shots": [1, 2, 4], "epochs": 3}))
    grid = batch.load_grid(short)
    assert grid.fixed == {"epochs": 3} and grid.axes == {"shots": [1, 2, 4]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("parameters: {a: 1}\ngird: {b: [1]}\n")
    with pytest.raises(InvalidInputError, match="unknown keys"):
        batch.load_grid(bad)
    with pytest.raises(InvalidInputError, match="does not exist"):
        batch.load_grid(tmp_path / "missing.yaml")


def test_parse_value_reads_yaml_scalars_and_lists():
    assert batch.parse_value("4") == 4 and batch.parse_value("true") is True
    assert batch.parse_value("[0, 1]") == [0, 1] and batch.parse_value("glyphs") == "glyphs"
    assert batch.parse_value("1e-4") == "1e-4"  # YAML 1.1 reads it as text; the notebook's check converts it


def test_plan_restricts_points_to_each_notebooks_parameters(notebooks, tmp_path):
    tiny, other = notebooks
    grid = batch.Grid(fixed={"words": 7}, axes={"seed": [1, 2], "characteristic": ["a", "b"]})
    points = batch.plan([tiny, other], grid, tmp_path / "runs")
    tiny_points = [p for p in points if p.notebook == tiny]
    other_points = [p for p in points if p.notebook == other]
    assert len(tiny_points) == 4 and len(other_points) == 2  # other has no 'characteristic' axis
    assert other_points[0].parameters.keys() == {"seed", "output_dir"}
    assert tiny_points[1].label == "01-seed=1,characteristic=b"
    assert tiny_points[1].parameters["output_dir"] == str((tmp_path / "runs" / "tiny" / tiny_points[1].label).resolve())
    with pytest.raises(InvalidInputError, match="belong to none of the notebooks"):
        batch.plan([tiny], batch.Grid(fixed={"shotz": 1}), tmp_path)


def test_a_grid_is_checked_against_the_notebooks_parameter_models_before_anything_runs(tmp_path):
    notebook = Path(__file__).resolve().parent.parent / "notebooks" / "03_few_shot_finetuning.ipynb"
    assert set(batch.notebook_parameters(notebook)) >= {"shots", "methods", "lr", "output_dir"}
    with pytest.raises(InvalidInputError) as caught:
        batch.plan([notebook], batch.Grid(fixed={"lr": 0}, axes={"shots": [1, "many"]}), tmp_path)
    message = str(caught.value)
    assert "nothing was run" in message and "shots = 'many'" in message and message.count("lr = 0") == 2
    assert not (tmp_path / "03_few_shot_finetuning").exists()


def test_find_notebooks_expands_folders(notebooks, tmp_path):
    tiny, other = notebooks
    assert batch.find_notebooks([tiny.parent]) == sorted([tiny, other])
    with pytest.raises(InvalidInputError):
        batch.find_notebooks([tmp_path / "nothing.txt"])


def test_rows_and_csv_flatten_outcomes():
    outcomes = [batch.Outcome("a", "00-x=1", "f", {"x": 1, "s": [0, 1]}, "ok", 1.234, metrics={"m": 0.5}),
                batch.Outcome("a", "01-x=2", "g", {"x": 2, "s": [0]}, "failed", 2.0, error="ValueError: no")]
    rows = batch.rows(outcomes)
    assert rows[0] == {"notebook": "a", "point": "00-x=1", "status": "ok", "seconds": 1.2, "param.x": 1,
                       "param.s": "[0, 1]", "m": 0.5}
    assert rows[1]["error"] == "ValueError: no" and "m" not in rows[1]
    parsed = list(csv.DictReader(batch.csv_text(rows).splitlines()))
    assert parsed[0]["m"] == "0.5" and parsed[1]["m"] == "" and parsed[1]["error"] == "ValueError: no"


# -- running -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def report(notebooks, tmp_path_factory):
    tiny, other = notebooks
    runs = tmp_path_factory.mktemp("runs")
    grid = batch.Grid(fixed={"words": 9, "seed": 1}, axes={"characteristic": ["ok", "fail"]})
    lines: list[str] = []
    result = batch.run_batch([tiny, other], grid, name="sweep", runs_dir=runs, echo=lines.append)
    return result, lines


def test_every_point_runs_into_its_own_folder_and_failures_are_reported(report):
    result, lines = report
    assert [(o.notebook, o.label, o.status) for o in result.outcomes] == [
        ("tiny", "00-characteristic=ok", "ok"), ("tiny", "01-characteristic=fail", "failed"),
        ("other", "default", "ok")]  # the axis 'other' lacks does not multiply its runs
    for outcome in result.outcomes:
        folder = Path(outcome.folder)
        executed = nbformat.read(folder / f"{outcome.notebook}.ipynb", as_version=4)  # also of failed points
        assert any(c.metadata.get("tags") == ["injected-parameters"] for c in executed.cells)
    ok = result.outcomes[0]
    assert ok.metrics == {"double": 2, "words": 9, "kind": "ok"} and ok.figures == ["line.png"]
    assert (Path(ok.folder) / "line.png").stat().st_size > 0
    assert result.outcomes[2].metrics == {"seed_plus_one": 2}
    failed = result.failed[0]
    assert failed.error.startswith("ValueError: asked to fail at seed 1") and "cell" in failed.error
    assert any("failed" in line and "asked to fail" in line for line in lines)
    assert result.summary_line().startswith("2 of 3 runs succeeded")


def test_execute_keeps_papermill_and_kernel_noise_out_of_the_log(tmp_path, caplog, capfd):
    """A kit notebook's parameters cell assigns nothing by design: papermill's "unknown parameter" warning
    and the kernel's start-up warnings stay out of the log, while the injected values still arrive."""
    path = _notebook(tmp_path / "plain.ipynb", "# declared in a parameter model", "print(2 * x)")
    caplog.set_level(logging.INFO, logger="papermill")
    executed = batch.execute(path, tmp_path / "out.ipynb", {"x": 21}, cwd=tmp_path)
    assert executed.cells[-1].outputs[0]["text"] == "42\n"
    assert "Input Notebook" in caplog.text and "Passed unknown parameter" not in caplog.text
    assert "IPKernelApp" not in capfd.readouterr().err


def test_the_kernel_is_this_environment(report):
    result, _ = report
    executed = nbformat.read(Path(result.outcomes[0].folder) / "tiny.ipynb", as_version=4)
    setup = next(c for c in executed.cells if "start_notebook" in c.source)
    assert f"at {sys.executable} " in setup.outputs[0]["text"] and "mmft_kit" in setup.outputs[0]["text"]


def test_results_tables_and_summary_collect_every_point(report):
    result, _ = report
    table = list(csv.DictReader((result.folder / batch.RESULTS_CSV).read_text().splitlines()))
    assert [r["status"] for r in table] == ["ok", "failed", "ok"]
    assert [r["double"] for r in table] == ["2", "", ""] and table[0]["param.characteristic"] == "ok"
    assert table[2]["seed_plus_one"] == "2"
    markdown = (result.folder / batch.RESULTS_MD).read_text()
    tiny_table, other_table = markdown.split("### other")
    assert tiny_table.startswith("### tiny\n\n| point | status | seconds | param.characteristic | double |")
    assert tiny_table.count("\n| 0") == 2 and "seed_plus_one" in other_table and "double" not in other_table
    summary = (result.folder / batch.SUMMARY_MD).read_text()
    assert "## Failures" in summary and "asked to fail at seed 1" in summary
    assert "![line.png](tiny/00-characteristic=ok/line.png)" in summary
    record = json.loads((result.folder / batch.RECORD_JSON).read_text())
    assert record["name"] == "sweep" and len(record["outcomes"]) == 3


def test_cli_runs_a_grid_and_exits_1_when_a_point_failed(notebooks, tmp_path, capsys):
    tiny, _ = notebooks
    status = main(["batch", str(tiny), "-g", "seed", "3", "4", "-p", "characteristic", "ok",
                   "--name", "cli", "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0 and "2 of 2 runs succeeded" in out
    table = list(csv.DictReader((tmp_path / "cli" / batch.RESULTS_CSV).read_text().splitlines()))
    assert [(r["param.seed"], r["double"]) for r in table] == [("3", "6"), ("4", "8")]

    status = main(["batch", str(tiny), "-p", "characteristic", "fail", "--name", "bad", "--runs-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1 and "failed: tiny default: ValueError: asked to fail at seed 0" in out


def test_cli_reports_a_bad_grid_as_an_error(notebooks, tmp_path, capsys):
    tiny, _ = notebooks
    assert main(["batch", str(tiny), "-p", "shotz", "3", "--runs-dir", str(tmp_path)]) == 2
    assert "shotz" in capsys.readouterr().err


# -- resuming and spreading ----------------------------------------------------------------------
def _table(folder: Path) -> list[dict]:
    """results.csv without the seconds each point took."""
    return [{k: v for k, v in row.items() if k != "seconds"}
            for row in csv.DictReader((folder / batch.RESULTS_CSV).read_text().splitlines())]


def test_a_rerun_batch_skips_finished_points_and_retries_failed_ones(report, notebooks):
    result, _ = report
    tiny, other = notebooks
    stamps = {o.label + o.notebook: (Path(o.folder) / f"{o.notebook}.ipynb").stat().st_mtime_ns
              for o in result.outcomes}
    grid = batch.Grid(fixed={"words": 9, "seed": 1}, axes={"characteristic": ["ok", "fail"]})
    lines: list[str] = []
    again = batch.run_batch([tiny, other], grid, name="sweep", runs_dir=result.folder.parent, echo=lines.append)
    assert "2 of 3 points already done" in lines[0]
    assert [line.split(" ->")[0] for line in lines if "->" in line] == ["[2/3] tiny 01-characteristic=fail"]
    after = {o.label + o.notebook: (Path(o.folder) / f"{o.notebook}.ipynb").stat().st_mtime_ns
             for o in again.outcomes}
    assert after["00-characteristic=oktiny"] == stamps["00-characteristic=oktiny"]
    assert after["defaultother"] == stamps["defaultother"]
    assert after["01-characteristic=failtiny"] != stamps["01-characteristic=failtiny"]
    assert [o.status for o in again.outcomes] == ["ok", "failed", "ok"]
    assert again.outcomes[0].metrics == {"double": 2, "words": 9, "kind": "ok"}
    assert _table(again.folder) == _table(result.folder)


def test_a_point_with_other_parameters_or_a_newer_kit_is_not_reused(report, notebooks, monkeypatch):
    result, _ = report
    tiny, _ = notebooks
    points = batch.plan([tiny], batch.Grid(fixed={"words": 9, "seed": 1}, axes={"characteristic": ["ok", "fail"]}),
                        result.folder)
    assert batch.finished(points[0]) is not None and batch.finished(points[1]) is None  # failed: never reused
    other = batch.plan([tiny], batch.Grid(fixed={"words": 8, "seed": 1}, axes={"characteristic": ["ok"]}),
                       result.folder)[0]
    assert other.folder == points[0].folder and batch.finished(other) is None
    monkeypatch.setattr(batch, "__version__", "99.0")
    assert batch.finished(points[0]) is None


def test_rerun_runs_every_point_again(notebooks, tmp_path):
    tiny, _ = notebooks
    grid = batch.Grid(fixed={"words": 3, "characteristic": "ok"})
    first = batch.run_batch([tiny], grid, name="b", runs_dir=tmp_path, echo=lambda line: None)
    stamp = (Path(first.outcomes[0].folder) / "tiny.ipynb").stat().st_mtime_ns
    lines: list[str] = []
    batch.run_batch([tiny], grid, name="b", runs_dir=tmp_path, echo=lines.append, rerun=True)
    assert (Path(first.outcomes[0].folder) / "tiny.ipynb").stat().st_mtime_ns != stamp
    assert not any("already done" in line for line in lines)


@pytest.mark.parametrize("spread", [{"workers": 2}, {"executor": "submitit-local"}], ids=["2-workers", "submitit"])
def test_a_spread_batch_gives_the_serial_table(report, notebooks, tmp_path, spread):
    result, _ = report
    tiny, other = notebooks
    grid = batch.Grid(fixed={"words": 9, "seed": 1}, axes={"characteristic": ["ok", "fail"]})
    spread_report = batch.run_batch([tiny, other], grid, name="sweep", runs_dir=tmp_path, echo=lambda line: None,
                                    **spread)
    assert [(o.notebook, o.label, o.status) for o in spread_report.outcomes] == [
        (o.notebook, o.label, o.status) for o in result.outcomes]
    assert _table(spread_report.folder) == _table(result.folder)
    assert json.loads((spread_report.folder / "tiny" / "00-characteristic=ok" / batch.POINT_JSON).read_text()
                      )["outcome"]["metrics"] == {"double": 2, "words": 9, "kind": "ok"}


def test_cli_passes_workers_rerun_and_cluster_options(monkeypatch, notebooks, tmp_path):
    tiny, _ = notebooks
    seen = {}

    def fake_run_batch(notebooks, grid, **options):
        seen.update(options)
        return batch.BatchReport("x", tmp_path, [])

    monkeypatch.setattr(batch, "run_batch", fake_run_batch)
    assert main(["batch", str(tiny), "--workers", "3", "--rerun", "--executor", "slurm", "--partition", "gpu",
                 "--time", "30", "--gpus", "1"]) == 0
    assert seen["workers"] == 3 and seen["rerun"] and seen["executor"] == "slurm"
    assert seen["cluster"].submitit_parameters() == {"timeout_min": 30, "gpus_per_node": 1, "cpus_per_task": 4,
                                                     "tasks_per_node": 1, "nodes": 1, "slurm_partition": "gpu"}
