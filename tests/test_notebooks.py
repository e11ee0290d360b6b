"""The notebooks: each an .ipynb / py:percent pair kept in sync, with hygiene rules (parameters cell first, no
outputs, thin cells); the parameter models they read; live or static mode; and every notebook run through
papermill with small parameters on the ``ci`` models, asserting on the metrics and figures each one wrote."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from mmft_kit import batch
from mmft_kit.errors import DatasetNotFoundError, InvalidInputError, ModelNotAvailableError
from mmft_kit.notebook import METRICS_NAME, is_live, read_metrics, static_environment
from mmft_kit.notebook import NOTEBOOKS, check_resources

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
NAMES = [path.stem for path in PATHS]
CI = {"clip": "embedded:ci", "captioner": "label"}
#: Lines of code one cell may hold: longer logic belongs in mmft_kit.
MAX_CELL_LINES = 16


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _cells(notebook) -> list[tuple[str, str, list]]:
    return [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in notebook.cells]


def _checked(name: str, **values):
    """The notebook's parameters with ``values``, type-checked and checked against the registry and the disk."""
    params = NOTEBOOKS[name](**values)
    check_resources(params.model_dump())
    return params


# -- the pairs and their hygiene --------------------------------------------------------------------
def test_the_six_notebooks_are_there_each_with_its_text_pair_and_parameter_model():
    assert NAMES == ["00_quickstart", "01_prompt_design", "02_synthetic_captions", "03_few_shot_finetuning",
                     "04_embedding_visualisation", "05_pare_cross_modal"]
    assert sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.py")) == NAMES
    assert sorted(NOTEBOOKS) == NAMES
    assert not (ROOT / "scripts" / "make_notebooks.py").exists()


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_pair_is_in_sync(path):
    text = jupytext.read(path.with_suffix(".py"))
    assert _cells(text) == _cells(_read(path)), (
        f"{path.name} and {path.with_suffix('.py').name} differ: run `make notebooks` (see README)")


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_notebook_is_clean_valid_and_runs_on_python3(path):
    notebook = _read(path)
    nbformat.validate(notebook)
    assert (notebook.nbformat, notebook.nbformat_minor) >= (4, 5) and all("id" in cell for cell in notebook.cells)
    assert notebook.metadata.kernelspec.name == "python3" and notebook.metadata.kernelspec.language == "python"
    for cell in _code_cells(notebook):
        assert cell.outputs == [] and cell.execution_count is None, \
            f"{path.name} is saved with outputs: run `make notebooks` (see README)"


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_parameters_cell_comes_first_and_is_read_right_after(path):
    cells = _code_cells(_read(path))
    assert cells[0].metadata.get("tags") == ["parameters"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in _read(path).cells) == 1
    assert all(isinstance(node, ast.Assign) for node in ast.parse(cells[0].source).body)
    assert f'start_notebook("{path.stem}", globals())' in cells[1].source


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_cells_are_thin_and_never_rebind_a_parameter(path):
    fields = set(NOTEBOOKS[path.stem].model_fields)
    for cell in _code_cells(_read(path))[1:]:
        tree = ast.parse(cell.source)
        assert not any(isinstance(node, (ast.FunctionDef, ast.ClassDef)) and len(node.body) > 3
                       for node in ast.walk(tree)), "logic belongs in mmft_kit, not in a notebook"
        code_lines = [line for line in cell.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert len(code_lines) <= MAX_CELL_LINES, f"a cell of {path.name} has {len(code_lines)} lines of code"
        assigned = {target.id for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.For))
                    for target in ast.walk(node.targets[0] if isinstance(node, ast.Assign) else node.target)
                    if isinstance(target, ast.Name)}
        assert not assigned & fields, f"{path.name} rebinds parameters {assigned & fields}: a rerun would read them"


@pytest.mark.parametrize("path", PATHS, ids=NAMES)
def test_the_notebook_uses_only_declared_parameters(path):
    source = "\n".join(cell.source for cell in _code_cells(_read(path)))
    used = set(re.findall(r"\bp\.(\w+)", source)) - {"config", "run_config"}
    assert used and used <= set(NOTEBOOKS[path.stem].model_fields)


# -- the parameters -------------------------------------------------------------------------------
def test_text_from_the_command_line_is_converted():
    p = NOTEBOOKS["03_few_shot_finetuning"](shots="4", lr="1e-4", interactive="true", seeds="0,1",
                                            methods="flyp mmft", template="None")
    assert (p.shots, p.lr, p.interactive, p.seeds, p.methods, p.template) == (4, 1e-4, True, [0, 1], ["flyp", "mmft"],
                                                                              None)
    quickstart = NOTEBOOKS["00_quickstart"]
    assert quickstart(seeds="[2, 3]").seeds == [2, 3] and quickstart(seeds=5).seeds == [5]
    with pytest.raises(InvalidInputError, match="shots = '2.5'"):
        NOTEBOOKS["00_quickstart"](shots="2.5")


def test_bad_types_and_ranges_are_reported_together():
    with pytest.raises(InvalidInputError) as caught:
        NOTEBOOKS["03_few_shot_finetuning"](shots="many", epochs=0, lr=-1.0, methods=["flyp", "svm"],
                                            interactive="maybe", shotz=1)
    message = str(caught.value)
    for text in ("shots = 'many'", "epochs = 0: Input should be greater than or equal to 1",
                 "lr = -1.0: Input should be greater than 0", "methods[1] = 'svm'", "unknown method 'svm'",
                 "interactive = 'maybe'", "shotz: unknown; did you mean 'shots'?", "mmft_kit/notebook/params.py"):
        assert text in message


def test_defaults_are_declared_once_and_shared():
    from mmft_kit.train import TrainConfig

    for name in ("00_quickstart", "03_few_shot_finetuning", "04_embedding_visualisation"):
        model = NOTEBOOKS[name]
        for field in ("dataset", "clip", "captioner", "shots", "epochs", "lr", "batch_size", "weight_decay"):
            assert repr(model.model_fields[field]) == repr(TrainConfig.model_fields[field]), (name, field)
    config = NOTEBOOKS["03_few_shot_finetuning"](shots=2, lr=1e-3, output_dir="x").config(TrainConfig, method="ce",
                                                                                          seed=4)
    assert (config.method, config.seed, config.shots, config.lr, config.output_dir) == ("ce", 4, 2, 1e-3, None)


def test_unknown_data_set_model_and_captioner_fail_readably():
    with pytest.raises(DatasetNotFoundError, match="unknown data set 'glyfs'.*glyphs"):
        _checked("02_synthetic_captions", dataset="glyfs")
    with pytest.raises(ModelNotAvailableError, match="unknown CLIP model 'ViT-B-33'.*ViT-B-32"):
        _checked("02_synthetic_captions", clip="ViT-B-33")
    with pytest.raises(ModelNotAvailableError, match="unknown embedded clip size 'huge'"):
        _checked("02_synthetic_captions", clip="embedded:huge")
    with pytest.raises(ModelNotAvailableError, match="unknown captioner 'gpt'"):
        _checked("01_prompt_design", captioner="gpt")
    assert _checked("01_prompt_design", captioner="Qwen/Qwen2-VL-2B-Instruct").captioner == "Qwen/Qwen2-VL-2B-Instruct"
    with pytest.raises(DatasetNotFoundError, match="unknown PaRe target task"):
        _checked("05_pare_cross_modal", task="mnist")


def test_more_shots_than_a_class_has_fails_before_training():
    with pytest.raises(InvalidInputError, match="shots"):
        _checked("00_quickstart", shots="1000", clip="embedded:ci", captioner="label")
    assert _checked("00_quickstart", shots="2", clip="embedded:ci", captioner="label").shots == 2


def test_the_default_methods_come_from_the_registry_with_the_strong_cheap_baselines():
    from mmft_kit.methods import methods_of

    every = NOTEBOOKS["03_few_shot_finetuning"]().methods
    assert every == [*methods_of("clip"), *methods_of("frozen")] and {"linear_probe", "lp_pp"} <= set(every)
    assert {"zeroshot", "flyp", "mmft", "linear_probe", "lp_pp"} <= set(NOTEBOOKS["00_quickstart"]().methods)
    assert NOTEBOOKS["00_quickstart"](methods="flyp").methods == ["flyp"]


def test_notebook_specific_choices():
    with pytest.raises(InvalidInputError, match="methods"):
        NOTEBOOKS["04_embedding_visualisation"](methods=["ce"])
    assert NOTEBOOKS["05_pare_cross_modal"](methods="finetune,pare").methods == ["finetune", "pare"]
    with pytest.raises(InvalidInputError, match="classes"):
        _checked("04_embedding_visualisation", clip="embedded:ci", captioner="label", classes=["vorn", "zebra"])


def test_live_for_a_person_in_jupyterlab_static_under_papermill_and_batch():
    assert is_live(None, {"JPY_SESSION_NAME": "/home/me/01_prompt_design.ipynb"})  # a Jupyter server's kernel
    assert not is_live(None, {})  # papermill / nbclient start kernels without a server
    assert not is_live(None, {"JPY_SESSION_NAME": "x", **static_environment()})  # mmft_kit batch
    assert is_live(True, {}) and not is_live(False, {"JPY_SESSION_NAME": "x"})  # the parameter decides


def test_progress_bars_follow_tqdms_own_setting(monkeypatch):
    from mmft_kit.runtime import bar_options

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert bar_options(True) == {} and bar_options(False) == {"disable": True}
    monkeypatch.setenv("TQDM_DISABLE", "1")  # what a batch's kernels get (static_environment)
    assert bar_options(True) == {"disable": True}


# -- running every notebook ------------------------------------------------------------------------
SMALL = {
    "00_quickstart": {**CI, "shots": 1, "epochs": 1},
    "01_prompt_design": {"captioner": "embedded:ci", "samples": 2, "characteristics": ["visual", "shape"],
                         "interactive": True},
    "02_synthetic_captions": {**CI, "limit": 8, "samples": 3, "characteristics": ["visual", "shape"]},
    "03_few_shot_finetuning": {**CI, "shots": 1, "epochs": 1,
                               "methods": ["zeroshot", "ce", "mmft", "linear_probe", "lp_pp"]},
    "04_embedding_visualisation": {**CI, "shots": 1, "epochs": 1, "methods": ["mmft"],
                                   "projections": ["pca", "tsne"], "interactive": True},
    "05_pare_cross_modal": {"body": "embedded:ci", "epochs": 1, "samples": 2, "mechanism_epochs": 2,
                            "mechanism_train": 64},
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
    for path in PATHS:
        folder = root / path.stem
        parameters = {**SMALL[path.stem], "output_dir": str(folder)}
        if "caption_store" in NOTEBOOKS[path.stem].model_fields:
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
    printed = "".join(o.get("text", "") for o in setup.outputs if o.get("name") == "stdout")
    assert "start_notebook" in setup.source and f"at {sys.executable} " in printed
    assert "parameters (* changed from the default):" in printed and "widgets: " in printed
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
    assert all(_unit(m[k]) for k in ("zeroshot_accuracy", "test.zeroshot", "test.flyp", "test.mmft"))
    assert m["paired.mmft − flyp"] == pytest.approx(m["test.mmft"] - m["test.flyp"])
    assert m["captions"] == 8 * 1 * 3  # eight classes, one shot, three characteristics
    assert record["figures"] == ["accuracy.png"]
    ran = [r["method"] for r in record["details"]["runs"]]
    assert ran == ["zeroshot", "flyp", "mmft", "linear_probe", "tip_adapter", "tip_adapter_f", "lp_pp"]
    assert m["best_method"] == max(ran, key=lambda method: m[f"test.{method}"])


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_prompt_design_previews_compares_and_saves_the_template(runs):
    from mmft_kit.captions import resolve_template

    record = _metrics(runs, "01_prompt_design")
    m = record["metrics"]
    assert m["samples"] == 2 and m["mean_words"] > 0 and m["seconds_per_caption"] > 0 and _unit(m["class_name_rate"])
    assert {"visual.mean_words", "shape.mean_words"} <= set(m)
    assert _unit(m["visual.characteristic_word_rate"]) and _unit(m["shape.characteristic_word_rate"])
    assert record["figures"] == ["preview.png", "characteristics.png", "characteristic_scores.png"]
    assert 0 <= m["score"] <= 1 and m["score_se"] >= 0
    scored = record["details"]["characteristic_scores"]
    assert [row["characteristics"] for row in scored] == ["visual", "shape", "visual+shape"]
    assert len(record["details"]["leaderboard"]) >= 3
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
    methods = SMALL["03_few_shot_finetuning"]["methods"]
    for method in methods:  # one seed: the spread is not measured
        assert _unit(m[f"test.{method}"]) and m[f"test_se.{method}"] is None
    assert m["zeroshot_accuracy"] == m["test.zeroshot"]
    assert m["best_method"] == max(methods, key=lambda method: m[f"test.{method}"])
    assert m["classes"] == 8 and m["shots"] == 1
    assert record["figures"] == ["learning_curves.png", "accuracy.png", "confusion.png", "shift.png", "wise_ft.png"]
    runs_ = record["details"]["runs"]
    assert [len(r["history"]) for r in runs_] == [0, 1, 1, 0, 0]
    assert [sorted(r["extra"]["eval"]) for r in runs_] == [["glyphs-background", "glyphs-noise"]] * 5
    for r in runs_:  # the summary's shifted figure is the mean over the shifted sets
        shifted = sum(r["extra"]["eval"].values()) / 2
        assert m[f"shifted.{r['method']}"] == pytest.approx(shifted)
    assert [r["extra"]["wise_ft"] is None for r in runs_] == [True, False, False, True, True]
    alphas, accuracies = zip(*runs_[2]["extra"]["wise_ft"])  # α = 1 is the fine-tuned model itself
    assert alphas[0] == 0.0 and alphas[-1] == 1.0 and accuracies[-1] == pytest.approx(runs_[2]["test"])


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_embedding_visualisation_scores_separation_before_and_after(runs):
    from mmft_kit.embeddings import available_projections

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
    assert m["paired.pare − finetune"] == pytest.approx(m["test.pare"] - m["test.finetune"])  # one seed
    assert m["paired.pare − pare_random_gate"] == pytest.approx(m["test.pare"] - m["test.pare_random_gate"])
    assert all(0 <= m[f"mechanism_auroc.{v}"] <= 1 for v in ("authors", "relaxed", "random_gate"))
    assert record["figures"] == ["mechanism_score_maps.png", "mechanism_diagnostics.png", "mechanism_steering.png",
                                 "training.png", "gate_diagnostics.png", "gate_first_epoch.png", "gate_last_epoch.png",
                                 "preregistered_test.png"]


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
def test_a_bad_parameter_fails_in_the_cell_after_the_parameters(ci_models, tmp_path):
    from papermill.exceptions import PapermillExecutionError

    path = NOTEBOOKS_DIR / "03_few_shot_finetuning.ipynb"
    with pytest.raises(PapermillExecutionError) as caught:
        batch.execute(path, tmp_path / "out.ipynb", {**CI, "shots": 1000, "output_dir": str(tmp_path)})
    assert caught.value.ename == "InvalidInputError" and "1000 shots" in caught.value.evalue
    assert "start_notebook" in caught.value.source  # it stopped right after the parameters, before any work
    assert not (tmp_path / METRICS_NAME).exists()
    executed = json.loads((tmp_path / "out.ipynb").read_text())
    ran = [c for c in executed["cells"] if c["cell_type"] == "code" and c["execution_count"] is not None]
    assert len(ran) == 3  # parameters, injected parameters, the failing check
