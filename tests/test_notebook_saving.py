"""Saving from JupyterLab: a notebook saved with outputs, as JupyterLab saves it, through a Jupyter server started
as ``make lab`` starts it, leaves git clean; run folders go to ``runs/`` at the repository root."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import jupyterlab_server

from mmft_kit.notebook.saving import strip_notebook
from mmft_kit.notebook.start import project_folder

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "mmft-kit-saving-test"
NOTEBOOK = "01_prompt_design"


def _executed(path: Path) -> dict:
    """The notebook at ``path`` as JupyterLab sends it to be saved after a run: sources as one string each
    (nbformat's in-memory form), outputs of every kind, execution counts, kernel and widget metadata."""
    ran = json.loads(json.dumps(nbformat.read(path, as_version=4)))
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "python 3.11 at /usr/bin/python\n"},
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": png, "text/plain": "<Figure>"}},
        {"output_type": "display_data", "metadata": {}, "data": {
            "application/vnd.jupyter.widget-view+json": {"model_id": "ab12", "version_major": 2, "version_minor": 0},
            "text/plain": "VBox()"}},
        {"output_type": "execute_result", "execution_count": 3, "metadata": {}, "data": {"text/plain": "0.5"}},
    ]
    for count, cell in enumerate(c for c in ran["cells"] if c["cell_type"] == "code"):
        cell["outputs"], cell["execution_count"] = copy.deepcopy(outputs), count + 1
        cell["metadata"].update({"scrolled": True, "execution": {"iopub.status.idle": "2026-01-01T00:00:00Z"},
                                 "jupyter": {"outputs_hidden": False}})
    ran["metadata"]["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py", "mimetype": "text/x-python",
        "name": "python", "nbconvert_exporter": "python", "pygments_lexer": "ipython3", "version": "3.11.9"}
    ran["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                                "version_minor": 0}}
    return ran


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def clone(tmp_path) -> Path:
    """A git repository holding the kit's notebooks folder and JupyterLab config, committed."""
    folder = tmp_path / "clone"
    shutil.copytree(ROOT / "notebooks", folder / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / "jupyter_server_config.py", folder)
    shutil.copy(ROOT / ".gitignore", folder)
    _git(folder, "init", "-q")
    _git(folder, "add", "-A")
    _git(folder, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "clone")
    return folder


@pytest.fixture
def lab(clone, tmp_path):
    """JupyterLab started in ``clone`` as ``make lab`` starts it (``--config=jupyter_server_config.py``)."""
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / ".config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / ".rt"),
           "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with jupyterlab_server(["--config=jupyter_server_config.py"], env, clone, tmp_path / "lab.log", TOKEN) as base:
        yield base


def _save(base: str, path: str, notebook: dict) -> None:
    """Save ``notebook`` as JupyterLab's save command does: PUT the contents model."""
    body = json.dumps({"type": "notebook", "format": "json", "content": notebook}).encode()
    request = urllib.request.Request(f"{base}/api/contents/{path}", data=body, method="PUT",
                                     headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status in (200, 201)


def test_saving_an_executed_notebook_in_jupyterlab_leaves_git_clean(clone, lab):
    with urllib.request.urlopen(f"{lab}/?token={TOKEN}", timeout=60) as landing:
        assert landing.geturl().split("?")[0].endswith("/lab/tree/notebooks")  # it opens on the notebooks
    path = clone / "notebooks" / f"{NOTEBOOK}.ipynb"
    _save(lab, f"notebooks/{NOTEBOOK}.ipynb", _executed(path))
    assert _git(clone, "status", "--porcelain") == ""  # the .ipynb and its paired .py, byte for byte
    saved = nbformat.read(path, as_version=4)
    assert all(c.outputs == [] and c.execution_count is None for c in saved.cells if c.cell_type == "code")
    edited = _executed(path)  # a real edit still reaches git, in both files of the pair
    edited["cells"][-1]["source"] += "\n# a reader's note"
    _save(lab, f"notebooks/{NOTEBOOK}.ipynb", edited)
    assert sorted(_git(clone, "status", "--porcelain").split()) == ["M", "M", f"notebooks/{NOTEBOOK}.ipynb",
                                                                    f"notebooks/{NOTEBOOK}.py"]


def test_stripping_gives_back_the_tracked_notebook_of_every_pair():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        tracked = json.loads(json.dumps(nbformat.read(path, as_version=4)))
        assert strip_notebook(_executed(path)) == tracked, path.name


def test_run_folders_go_to_the_repository_runs_folder_from_jupyterlab_papermill_and_batch(tmp_path):
    assert project_folder(ROOT / "notebooks") == ROOT  # JupyterLab starts a kernel beside its notebook
    assert project_folder(ROOT) == ROOT  # papermill, batch and make run from the repository root
    (tmp_path / "notebooks").mkdir()
    assert project_folder(tmp_path / "notebooks") == tmp_path / "notebooks"  # not the kit's notebooks folder
