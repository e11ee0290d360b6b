"""The method registry: every method of both papers in one table, a method added from outside the package
running through every entry point, and one head per run (the scored head is the plotted, saved and predicting one)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import toy_method
from mmft_kit.__main__ import main
from mmft_kit.errors import InvalidInputError
from mmft_kit.methods import METHODS, make_config, methods_of, run
from mmft_kit.pare import PareConfig
from mmft_kit.train import TrainConfig

CI_MODEL = "embedded:ci"
BUILT_IN = {
    "clip": ["mmft", "flyp", "flyp_ens", "ce", "zeroshot"],
    "frozen": ["linear_probe", "tip_adapter", "tip_adapter_f", "lp_pp"],
    "pare": ["scratch", "finetune", "orca", "pare", "pare_random_gate", "pare_uniform"],
}


def test_every_method_of_both_papers_is_registered_with_its_config():
    for family, names in BUILT_IN.items():
        assert methods_of(family) == names
        config = PareConfig if family == "pare" else TrainConfig
        assert all(METHODS[name].config is config for name in names)
    assert [m for m in METHODS if METHODS[m].wise_ft] == ["mmft", "flyp", "flyp_ens", "ce"]
    assert not any(METHODS[m].higher_is_better for m in BUILT_IN["pare"])


def test_a_config_takes_only_its_own_methods():
    assert make_config("pare", task="mechanism").method == "pare"
    with pytest.raises(InvalidInputError, match="runs with PareConfig"):
        TrainConfig(method="pare")
    with pytest.raises(InvalidInputError, match="unknown method 'lp-ft'"):
        make_config("lp-ft")


def test_a_method_registered_outside_runs_through_run_and_the_train_command(tmp_path, capsys):
    config = make_config(toy_method.NAME, dataset="glyphs", shots=2, clip=CI_MODEL, progress=False)
    result = run(config)
    assert result.method == toy_method.NAME and 0.0 <= result.test <= 1.0
    folder = tmp_path / "run"
    assert main(["train", "--method", toy_method.NAME, "--dataset", "glyphs", "--shots", "2", "--clip", CI_MODEL,
                 "--no-progress", "--output-dir", str(folder)]) == 0
    saved = json.loads((folder / "results.json").read_text())
    assert saved["method"] == toy_method.NAME and saved["test"] == result.test
    assert f"test accuracy {result.test:.4f}" in capsys.readouterr().out


def test_the_train_command_runs_a_pare_method_and_refuses_foreign_options(tmp_path, capsys):
    folder = tmp_path / "pare"
    assert main(["train", "--method", "pare", "--task", "mechanism", "--body", "tiny-random", "--epochs", "1",
                 "--no-progress", "--output-dir", str(folder)]) == 0
    saved = json.loads((folder / "results.json").read_text())
    assert saved["method"] == "pare" and saved["metric"] == "1-accuracy" and saved["config"]["task"] == "mechanism"
    assert main(["train", "--method", "pare", "--dataset", "glyphs"]) == 2
    assert "--dataset do(es) not apply to method 'pare'" in capsys.readouterr().err


def _accuracy(truth, predicted) -> float:
    return float(np.mean(np.asarray(truth) == np.asarray(predicted)))


@pytest.mark.parametrize("method", ["ce", "linear_probe"])
def test_plots_saved_classifier_and_predict_agree_with_the_reported_metric(method, tmp_path):
    from mmft_kit.predict import load_any_classifier
    from mmft_kit.train.inspect import predictions

    result = run(make_config(method, dataset="glyphs", shots=4, clip=CI_MODEL, epochs=1, progress=False,
                             output_dir=str(tmp_path), save_classifier=True))
    assert _accuracy(*predictions(result)) == pytest.approx(result.test)  # the confusion matrix's predictions
    classifier = load_any_classifier(str(tmp_path))  # what `python -m mmft_kit predict` loads
    images, labels = zip(*(result.data.test[i] for i in range(len(result.data.test))))
    predicted = [result.data.classnames.index(name) for name in classifier.predict(list(images))]
    assert _accuracy(labels, predicted) == pytest.approx(result.test)
    assert result.test > result.extra["zeroshot"] or method == "ce"  # its own head, not the text head (the ci CLIP hardly names glyphs)


def test_a_pare_runs_model_gives_its_reported_metric(body, source):
    from mmft_kit.pare import evaluate, fit, signal_task
    from mmft_kit.pare.train import predict

    task = signal_task(n_train=48, n_val=32, n_test=32)
    result = fit(task, PareConfig(method="pare", epochs=2, batch_size=16, progress=False), body=body, source=source)
    assert evaluate(result.model, task, "test") == pytest.approx(result.test)
    assert 1 - _accuracy(task.y_test, predict(result.model, task.x_test).argmax(1)) == pytest.approx(result.test)


def test_a_method_registered_outside_runs_in_the_few_shot_benchmarks_tiny_mode(tmp_path):
    import importlib

    bench = importlib.import_module("benchmarks.few_shot")
    bench.main(["--clip", CI_MODEL, "--captioner", "label", "--datasets", "glyphs", "--methods", toy_method.NAME,
                "zeroshot", "--shots", "1", "--seeds", "0", "--epochs", "1", "--workers", "1", "--out",
                str(tmp_path)])
    rows = (tmp_path / "few_shot.csv").read_text().splitlines()
    assert rows[0] == "dataset,method,shots,seed,accuracy" and len(rows) == 3
    assert any(row.startswith(f"glyphs,{toy_method.NAME},1,0,") for row in rows)
    assert f"| shots | zeroshot | {toy_method.NAME} |" in (tmp_path / "few_shot.md").read_text()


@pytest.mark.slow
def test_a_method_registered_outside_runs_in_a_two_point_batch(tmp_path, monkeypatch):
    import os
    from pathlib import Path

    from mmft_kit import batch
    from mmft_kit.methods import PLUGINS_ENV

    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv(PLUGINS_ENV, "toy_method")  # the kernels import it with the registry
    paths = [str(root / "tests"), str(root), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    grid = batch.Grid(fixed={"clip": CI_MODEL, "captioner": "label", "methods": [toy_method.NAME], "shots": 1},
                      axes={"seeds": [[0], [1]]})
    report = batch.run_batch([root / "notebooks" / "03_few_shot_finetuning.ipynb"], grid, name="toy",
                             runs_dir=tmp_path)
    assert [o.status for o in report.outcomes] == ["ok", "ok"], [o.error for o in report.outcomes]
    assert all(0.0 <= o.metrics[f"test.{toy_method.NAME}"] <= 1.0 for o in report.outcomes)
    assert all(o.metrics["best_method"] == toy_method.NAME for o in report.outcomes)


def test_the_readme_method_table_is_the_registrys(monkeypatch):
    from pathlib import Path

    from mmft_kit.methods import methods_table

    monkeypatch.setitem(METHODS, "nearest_mean", METHODS["nearest_mean"])  # restored after the test
    del METHODS["nearest_mean"]  # the table shows the built-in methods
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    shown = readme.split("(tests/test_methods.py keeps it equal) -->\n", 1)[1].split("\n<!-- end", 1)[0]
    assert shown == methods_table()
