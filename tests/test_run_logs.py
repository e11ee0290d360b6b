"""Experiment logs (``report_to``): TensorBoard event files that read back with the run's own figures, from the
``train`` command line and from the PaRe trainer; a logger that is not installed is a clear error."""

from __future__ import annotations

import importlib.util
import json

import pytest

from mmft_kit.__main__ import main
from mmft_kit.errors import InvalidInputError
from mmft_kit.notebook.params import NOTEBOOKS
from mmft_kit.run_logs import read_scalars
from mmft_kit.train import TrainConfig

pytest.importorskip("tensorboard")


def test_train_reports_to_tensorboard_with_the_runs_losses(tmp_path, tiny_clip_dir):
    folder = tmp_path / "run"
    assert main(["train", "--method", "flyp", "--dataset", "glyphs", "--shots", "1", "--epochs", "2",
                 "--batch-size", "8", "--clip", f"local-dir:{tiny_clip_dir}", "--no-progress",
                 "--output-dir", str(folder), "--report-to", "tensorboard"]) == 0
    record = json.loads((folder / "results.json").read_text())
    scalars = read_scalars(folder / "logs" / "glyphs" / "flyp-seed0")
    assert [(s, round(v, 5)) for s, v in scalars["train/loss"]] == [
        (e["epoch"], round(e["loss"], 5)) for e in record["history"]]
    assert [v for _, v in scalars["val/accuracy"]] == pytest.approx([e["val"] for e in record["history"]])
    assert [v for _, v in scalars["train/lr"]] == pytest.approx([e["lr"] for e in record["history"]])
    assert scalars["test/accuracy"] == [(record["best_epoch"], pytest.approx(record["test"]))]


def test_pare_reports_to_tensorboard(tmp_path, body, source):
    from mmft_kit.pare import PareConfig, fit, get_target_task

    config = PareConfig(method="pare", epochs=2, batch_size=16, progress=False, report_to=["tensorboard"],
                        log_dir=str(tmp_path))
    result = fit(get_target_task("signals"), config, body=body, source=source)
    scalars = read_scalars(tmp_path / "signals" / "pare-seed0")
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([e.loss for e in result.history])
    assert [v for _, v in scalars[f"val/{result.metric}"]] == pytest.approx([e.val for e in result.history])
    assert [v for _, v in scalars["extra/lam"]] == pytest.approx([e.extra["lam"] for e in result.history])


def test_no_logger_by_default_and_a_missing_one_says_what_to_install(tmp_path):
    assert TrainConfig().report_to == []
    if importlib.util.find_spec("wandb") is None:
        with pytest.raises(InvalidInputError, match=r"wandb is not installed: pip install wandb"):
            TrainConfig(report_to=["wandb"])
    with pytest.raises(InvalidInputError, match="report_to"):
        TrainConfig(report_to=["mlflow"])


def test_wandb_writes_an_offline_run_when_installed(tmp_path, body, source):
    pytest.importorskip("wandb")
    from mmft_kit.pare import PareConfig, fit, get_target_task

    config = PareConfig(method="finetune", epochs=1, batch_size=16, progress=False, report_to=["wandb"],
                        log_dir=str(tmp_path))
    fit(get_target_task("signals"), config, body=body, source=source)
    assert list((tmp_path / "signals" / "finetune-seed0" / "wandb").glob("offline-run-*/*.wandb"))


def test_the_notebooks_runs_take_report_to_and_log_beside_their_figures(tmp_path, capsys, monkeypatch):
    from mmft_kit.notebook import start, start_notebook
    from mmft_kit.pare import PareConfig

    monkeypatch.setattr(start, "configure_progress", lambda live: None)  # no tqdm settings left in this process
    nb = start_notebook("05_pare_cross_modal", {"report_to": "tensorboard", "output_dir": str(tmp_path / "nb")})
    config = nb.params.config(PareConfig, method="pare")
    assert config.report_to == ["tensorboard"] and config.log_dir == str(tmp_path / "nb" / "logs")
    for name in ("00_quickstart", "03_few_shot_finetuning"):
        assert NOTEBOOKS[name](report_to="tensorboard").config(TrainConfig, method="flyp").report_to == ["tensorboard"]
