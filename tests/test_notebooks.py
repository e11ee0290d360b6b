"""The notebooks: hygiene (no outputs, kernel, parameters cell, checks right after it), the parameter
checks themselves, and every notebook run through papermill with small parameters on the ``ci``
models, asserting on the metrics and figures each one wrote."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest

from mmft_kit import batch
from mmft_kit.errors import DatasetNotFoundError, InvalidInputError, ModelNotAvailableError
from mmft_kit.notebook_params import METRICS_NAME, check_parameters, convert, read_metrics

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAMES = [path.stem for path in NOTEBOOKS]
CI = {"clip": "embedded:ci", "captioner": "label"}


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _parameter_names(notebook) -> list[str]:
    tree = ast.parse(_code_cells(notebook)[0].source)
    return [node.targets[0].id for node in tree.body]


# -- hygiene --------------------------------------------------------------------------------------
def test_the_six_notebooks_are_there():
    assert NAMES == ["00_quickstart", "01_prompt_design", "02_synthetic_captions", "03_few_shot_finetuning",
                     "04_embedding_visualisation", "05_pare_cross_modal"]


def test_notebooks_match_their_generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "scripts" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0, "run: python scripts/make_notebooks.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_is_clean_valid_and_runs_on_python3(path):
    notebook = _read(path)
    nbformat.validate(notebook)
    assert (notebook.nbformat, notebook.nbformat_minor) >= (4, 5) and all("id" in cell for cell in notebook.cells)
    assert notebook.metadata.kernelspec.name == "python3" and notebook.metadata.kernelspec.language == "python"
    for cell in _code_cells(notebook):
        assert cell.outputs == [] and cell.execution_count is None, f"{path.name} is committed with outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_parameters_cell_comes_first_and_is_checked_right_after(path):
    notebook = _read(path)
    cells = _code_cells(notebook)
    assert cells[0].metadata.get("tags") == ["parameters"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in notebook.cells) == 1
    assert all(isinstance(node, ast.Assign) for node in ast.parse(cells[0].source).body)
    names = _parameter_names(notebook)
    assert {"output_dir", "interactive"} <= set(names)
    defaults = batch.notebook_parameters(path)
    assert defaults["interactive"] == "False" and defaults["output_dir"].strip("\"'") == f"runs/{path.stem}"
    call = next(node for node in ast.walk(ast.parse(cells[1].source))
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "start_notebook")
    assert call.args[0].value == path.stem
    assert [k.arg for k in call.keywords] == names  # every parameter is checked, in order


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_every_step_calls_the_kit(path):
    notebook = _read(path)
    for cell in _code_cells(notebook)[1:]:
        tree = ast.parse(cell.source)
        assert not any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) and len(node.body) > 3
                       for node in ast.walk(tree)), "logic belongs in mmft_kit, not in a notebook"
    assert any("mmft_kit" in cell.source for cell in _code_cells(notebook)[2:])


# -- parameter checks -----------------------------------------------------------------------------
def test_strings_from_the_command_line_are_converted():
    assert convert("shots", "4") == 4 and convert("lr", "1e-4") == 1e-4 and convert("interactive", "true") is True
    assert convert("seeds", "0,1") == [0, 1] and convert("seeds", "[2, 3]") == [2, 3] and convert("seeds", 5) == [5]
    assert convert("template", "None") is None and convert("methods", "flyp mmft") == ["flyp", "mmft"]
    with pytest.raises(ValueError):
        convert("shots", "2.5")


def test_bad_types_and_ranges_are_reported_together():
    with pytest.raises(InvalidInputError) as caught:
        check_parameters("03_few_shot_finetuning", shots="many", epochs=0, lr=-1.0, methods=["flyp", "svm"],
                         interactive="maybe")
    message = str(caught.value)
    for text in ("shots = 'many': expected a whole number ≥ 1", "epochs = 0", "lr = -1.0: expected a number > 0",
                 "methods = ['flyp', 'svm']", "interactive = 'maybe': expected true or false"):
        assert text in message
    with pytest.raises(InvalidInputError, match="unknown notebook parameter 'shotz'"):
        check_parameters(shotz=1)


def test_unknown_data_set_model_and_captioner_fail_readably():
    with pytest.raises(DatasetNotFoundError, match="unknown data set 'glyfs'.*glyphs"):
        check_parameters(dataset="glyfs")
    with pytest.raises(ModelNotAvailableError, match="unknown CLIP model 'ViT-B-33'.*ViT-B-32"):
        check_parameters(clip="ViT-B-33")
    with pytest.raises(ModelNotAvailableError, match="unknown embedded clip size 'huge'"):
        check_parameters(clip="embedded:huge")
    with pytest.raises(ModelNotAvailableError, match="unknown captioner 'gpt'"):
        check_parameters(captioner="gpt")
    assert check_parameters(captioner="Qwen/Qwen2-VL-2B-Instruct").captioner == "Qwen/Qwen2-VL-2B-Instruct"
    with pytest.raises(DatasetNotFoundError, match="unknown PaRe target task"):
        check_parameters("05_pare_cross_modal", task="mnist")


def test_more_shots_than_a_class_has_fails_before_training():
    with pytest.raises(InvalidInputError, match="shots"):
        check_parameters(dataset="glyphs", shots="1000", seeds="0")
    assert check_parameters(dataset="glyphs", shots="2", seeds="0").shots == 2


def test_notebook_specific_choices():
    with pytest.raises(InvalidInputError, match="methods"):
        check_parameters("04_embedding_visualisation", methods=["ce"])
    assert check_parameters("05_pare_cross_modal", methods="finetune,pare").methods == ["finetune", "pare"]
    with pytest.raises(InvalidInputError, match="classes"):
        check_parameters(dataset="glyphs", classes=["vorn", "zebra"])


# -- running every notebook ------------------------------------------------------------------------
SMALL = {
    "00_quickstart": {**CI, "shots": 1, "epochs": 1},
    "01_prompt_design": {"captioner": "embedded:ci", "samples": 2, "characteristics": ["visual", "shape"],
                         "interactive": True},
    "02_synthetic_captions": {**CI, "limit": 8, "samples": 3, "characteristics": ["visual", "shape"]},
    "03_few_shot_finetuning": {**CI, "shots": 1, "epochs": 1, "methods": ["zeroshot", "ce", "mmft"]},
    "04_embedding_visualisation": {**CI, "shots": 1, "epochs": 1, "methods": ["mmft"],
                                   "projections": ["pca", "tsne"], "interactive": True},
    "05_pare_cross_modal": {"body": "embedded:ci", "epochs": 1, "samples": 2},
}


#: A cold cache builds the ci models first (minutes); with them cached the whole file takes a few minutes.
SLOW_TIMEOUT = 2400


@pytest.fixture(scope="module")
def ci_models():
    """Build (or find) the ci models once, outside the kernels."""
    from mmft_kit.zoo import ensure_clip, ensure_vlm

    ensure_clip("ci", progress=False)
    ensure_vlm("ci", progress=False)


@pytest.fixture(scope="module")
def runs(ci_models, tmp_path_factory):
    """Every notebook executed once with SMALL parameters; name → (output folder, executed notebook)."""
    root = tmp_path_factory.mktemp("notebook_runs")
    done = {}
    for path in NOTEBOOKS:
        folder = root / path.stem
        parameters = {**SMALL[path.stem], "output_dir": str(folder)}
        if "caption_store" in batch.notebook_parameters(path):
            parameters["caption_store"] = str(root / f"{path.stem}-captions.jsonl")
        batch.execute(path, folder / path.name, parameters, cwd=root)
        done[path.stem] = (folder, _read(folder / path.name))
    return done


def _metrics(runs, name) -> dict:
    folder, _ = runs[name]
    record = read_metrics(folder)
    assert record["notebook"] == name and record["seconds"] > 0
    for figure in record["figures"]:
        assert (folder / figure).stat().st_size > 2000, f"{figure} is empty"
    return record


def _unit(value) -> bool:
    return 0.0 <= value <= 1.0


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
@pytest.mark.parametrize("name", NAMES)
def test_run_shows_the_kernel_and_writes_readable_logs(runs, name):
    folder, executed = runs[name]
    setup = _code_cells(executed)[2]  # parameters, injected parameters, then the set-up cell
    assert "start_notebook" in setup.source and f"at {sys.executable} " in setup.outputs[0]["text"]
    streams = [o["text"] for c in executed.cells for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert not any("\r" in text for text in streams), "progress bars must write whole lines"
    assert not any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    assert (folder / METRICS_NAME).is_file()


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
@pytest.mark.parametrize("name", NAMES)
def test_widgets_only_when_interactive(runs, name):
    _, executed = runs[name]
    views = [o for c in executed.cells for o in c.get("outputs", [])
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert bool(views) == SMALL[name].get("interactive", False)


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_quickstart_compares_mmft_with_the_baselines(runs):
    record = _metrics(runs, "00_quickstart")
    m = record["metrics"]
    assert all(_unit(m[k]) for k in ("zeroshot_accuracy", "flyp_accuracy", "mmft_accuracy"))
    assert m["mmft_gain_over_flyp"] == pytest.approx(m["mmft_accuracy"] - m["flyp_accuracy"])
    assert m["captions"] == 8 * 1 * 3  # eight classes, one shot, three characteristics
    assert record["figures"] == ["accuracy.png"]
    assert [r["method"] for r in record["details"]["runs"]] == ["zeroshot", "flyp", "mmft"]


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_prompt_design_previews_compares_and_saves_the_template(runs):
    from mmft_kit.captions import resolve_template

    record = _metrics(runs, "01_prompt_design")
    m = record["metrics"]
    assert m["samples"] == 2 and m["mean_words"] > 0 and m["seconds_per_caption"] > 0 and _unit(m["class_name_rate"])
    assert {"visual.mean_words", "shape.mean_words"} <= set(m)
    assert _unit(m["visual.characteristic_word_rate"]) and _unit(m["shape.characteristic_word_rate"])
    assert record["figures"] == ["preview.png", "characteristics.png"]
    folder, _ = runs["01_prompt_design"]
    assert (folder / "template.txt").read_text().strip() == resolve_template(None)
    assert [row["captions"] for row in record["details"]["comparison"]] == [2, 2, 4]


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_synthetic_captions_fill_the_store_and_measure_it(runs, tmp_path):
    from mmft_kit.captions import CaptionStore

    record = _metrics(runs, "02_synthetic_captions")
    m = record["metrics"]
    assert m["images"] == 8 and m["captions"] == 16 and m["captioned_now"] == 8
    assert m["class_name_rate"] == 1.0  # the label captioner writes "a photo of a {class}."
    assert m["visual.characteristic_word_rate"] == 0.0 and m["vocabulary"] >= 5
    assert -1.0 <= m["clip_score"] <= 1.0 and -1.0 <= m["clip_score_shuffled"] <= 1.0
    assert record["figures"] == ["browse.png", "statistics.png"]
    assert len(CaptionStore(record["details"]["store"])) == 16


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_few_shot_finetuning_reports_every_method(runs):
    record = _metrics(runs, "03_few_shot_finetuning")
    m = record["metrics"]
    for method in ("zeroshot", "ce", "mmft"):
        assert _unit(m[f"test_accuracy.{method}"]) and m[f"test_accuracy_std.{method}"] == 0.0
    assert m["zeroshot_accuracy"] == m["test_accuracy.zeroshot"] and m["best_method"] in ("zeroshot", "ce", "mmft")
    assert m["classes"] == 8 and m["shots"] == 1
    assert record["figures"] == ["learning_curves.png", "accuracy.png", "confusion.png"]
    assert [len(r["history"]) for r in record["details"]["runs"]] == [0, 1, 1]


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_embedding_visualisation_scores_separation_before_and_after(runs):
    from mmft_kit.viz import available_projections

    record = _metrics(runs, "04_embedding_visualisation")
    m = record["metrics"]
    assert -1.0 <= m["silhouette.before"] <= 1.0 and -1.0 <= m["silhouette.mmft"] <= 1.0
    assert m["silhouette_gain.mmft"] == pytest.approx(m["silhouette.mmft"] - m["silhouette.before"])
    assert _unit(m["test_accuracy.mmft"]) and _unit(m["zeroshot_accuracy"])
    projections = available_projections(["pca", "tsne"])
    assert record["figures"] == [f"embeddings_{p}.png" for p in projections] + ["separation.png"]


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_pare_reports_lambda_and_both_methods(runs):
    record = _metrics(runs, "05_pare_cross_modal")
    m = record["metrics"]
    assert m["task"] == "spherical_glyphs" and m["metric"] == "1-accuracy" and m["epochs"] == 1
    assert _unit(m["test.finetune"]) and _unit(m["test.pare"])
    assert m["k_first"] >= m["k_last"] > 0 and m["lambda_first"] == pytest.approx(m["k_first"] / m["tokens"])
    assert m["pare_minus_finetune"] == pytest.approx(m["test.pare"] - m["test.finetune"])
    assert record["figures"] == ["training.png", "gate_first_epoch.png", "gate_last_epoch.png"]


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_a_bad_parameter_fails_in_the_cell_after_the_parameters(ci_models, tmp_path):
    from papermill.exceptions import PapermillExecutionError

    path = ROOT / "notebooks" / "03_few_shot_finetuning.ipynb"
    with pytest.raises(PapermillExecutionError) as caught:
        batch.execute(path, tmp_path / "out.ipynb", {**CI, "shots": 1000, "output_dir": str(tmp_path)})
    assert caught.value.ename == "InvalidInputError" and "1000 shots" in caught.value.evalue
    assert "start_notebook" in caught.value.source  # it stopped right after the parameters, before any work
    assert not (tmp_path / METRICS_NAME).exists()
    executed = json.loads((tmp_path / "out.ipynb").read_text())
    ran = [c for c in executed["cells"] if c["cell_type"] == "code" and c["execution_count"] is not None]
    assert len(ran) == 3  # parameters, injected parameters, the failing check
