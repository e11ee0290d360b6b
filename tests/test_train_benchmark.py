"""The few-shot benchmark script: its statistics, and one tiny end-to-end invocation."""

from __future__ import annotations

import csv
import importlib
import json

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def bench():
    return importlib.import_module("benchmarks.few_shot")


def _rows(values: dict[tuple[str, str, int], list[float]]) -> list[dict]:
    return [{"dataset": d, "method": m, "shots": s, "seed": seed, "accuracy": a}
            for (d, m, s), accs in values.items() for seed, a in enumerate(accs)]


def test_comparison_counts_wins_and_names_losses(bench):
    table = bench.cells(_rows({
        ("a", "mmft", 1): [0.9, 0.9, 0.9], ("a", "flyp", 1): [0.5, 0.5, 0.5],
        ("b", "mmft", 1): [0.4, 0.5, 0.6], ("b", "flyp", 1): [0.45, 0.55, 0.65],
    }))
    assert bench.ranks(table, ["a", "b"], [1], ["mmft", "flyp"]) == (
        "mmft's rank of 2 by the mean over the 2 data sets: 1 shots 1 (70.0 %; best mmft 70.0 %).")
    text = bench.comparison(table, ["a", "b"], [1], "flyp")
    assert "higher mean in 1 of 2" in text and "(1 by more than 2 combined standard errors)" in text
    assert "lower in 1 (0 clearly)" in text and text.endswith("Lower in: b/1.")


def test_a_tiny_benchmark_writes_its_results(bench, tmp_path, capsys, monkeypatch):
    threads = torch.get_num_threads()
    argv = ["--clip", "embedded:ci", "--captioner", "label", "--datasets", "glyphs", "--methods", "mmft", "flyp",
            "zeroshot", "linear_probe", "--shots", "1", "--seeds", "0", "1", "--epochs", "1", "--workers", "1",
            "--wise-ft", "--out", str(tmp_path)]
    bench.main(argv)
    torch.set_num_threads(threads)
    with open(tmp_path / "few_shot.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["dataset", "method", "shots", "seed", "accuracy"] and len(rows) == 8
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 for r in rows)
    with open(tmp_path / "few_shot.runs.csv") as handle:
        runs = list(csv.DictReader(handle))
    assert all(0.0 <= float(r["shifted_accuracy"]) <= 1.0 for r in runs)  # every run tested on glyphs' variants
    markdown = (tmp_path / "few_shot.md").read_text()
    assert "| shots | mmft | flyp | zeroshot | linear_probe |" in markdown and "### glyphs" in markdown
    assert "## Under distribution shift" in markdown and "glyphs (glyphs-noise, glyphs-background)" in markdown
    assert "- shifted, mmft vs linear_probe: higher mean in" in markdown
    assert "- mmft's rank of 4 by the mean over the 1 data sets: 1 shots " in markdown
    assert "- shifted, mmft's rank of 4 by the mean over the 1 data sets: 1 shots " in markdown
    wise_table = markdown.split("## WiSE-FT at 1 shots")[1]
    assert "| method | test, α = 0 | test, α = 0.5 | test, α = 1 | shifted, α = 0 |" in wise_table
    assert "| flyp |" in wise_table and "| mmft |" in wise_table
    for figure in ("few_shot.png", "few_shot_shift.png"):
        assert (tmp_path / figure).read_bytes()[:4] == b"\x89PNG"
    wise = json.loads((tmp_path / "few_shot.wise_ft.json").read_text())
    alphas = [a for a, _ in wise["curves"]["flyp"]["test"]]
    assert alphas[0] == 0.0 and alphas[-1] == 1.0 and len(wise["curves"]["flyp"]["shifted"]) == len(alphas)
    fine_tuned = np.mean([float(r["accuracy"]) for r in runs if r["method"] == "flyp"])
    assert np.mean(wise["curves"]["flyp"]["test"][-1][1]) == pytest.approx(fine_tuned)  # α = 1: the trained model
    headline = capsys.readouterr().out.strip().splitlines()[-1]
    assert headline.startswith("headline (1 shots") and "test: mmft " in headline and "shifted: mmft " in headline
    assert f"(recipe hash `{bench.model_hash('clip', 'embedded:ci')}`)" in markdown


def test_a_rerun_takes_its_runs_from_the_journal(bench, tmp_path, monkeypatch):
    argv = ["--clip", "embedded:ci", "--captioner", "label", "--datasets", "glyphs", "--methods", "zeroshot",
            "linear_probe", "--shots", "1", "--seeds", "0", "1", "--workers", "1", "--out", str(tmp_path)]
    threads = torch.get_num_threads()
    bench.main(argv)
    torch.set_num_threads(threads)
    journal = tmp_path / bench.JOURNAL
    first = (tmp_path / "few_shot.csv").read_text()
    with open(journal, "a") as handle:
        handle.write('{"key": "torn by a cra')  # a crash mid-line loses that line only
    assert len(bench.read_jsonl(journal)) == 4
    monkeypatch.setattr(bench, "run_row", lambda config: pytest.fail(f"journalled run {config.method} redone"))
    bench.main(argv)
    assert (tmp_path / "few_shot.csv").read_text() == first
    assert "4 taken from it" in (tmp_path / "few_shot.md").read_text()
    bench.append_jsonl(journal, {"key": "next"})
    assert [entry["key"] for entry in bench.read_jsonl(journal)][-1] == "next"


def test_a_world_task_whose_rules_change_is_a_new_journal_key(bench, monkeypatch):
    """The models' hashes do not cover a task's rules, so the journal key carries their digest: a task whose
    images changed reruns instead of being read from the journal."""
    import dataclasses

    from mmft_kit.data import tasks

    config = bench.make_config(bench.parse_args([]), "glyphs", "zeroshot", 1, 0, 3e-4, 0.1)
    models = {"clip": "a", "captioner": "b"}
    before = bench.journal_key(config, models)
    glyphs = tasks.WORLD_TASKS["glyphs"]
    assert json.loads(before)["data"] == glyphs.fingerprint()
    monkeypatch.setitem(tasks.WORLD_TASKS, "glyphs", dataclasses.replace(glyphs, shared={**glyphs.shared,
                                                                                          "colour": "blue"}))
    assert bench.journal_key(config, models) != before
    digits = bench.make_config(bench.parse_args([]), "digits", "zeroshot", 1, 0, 3e-4, 0.1)
    assert "data" not in json.loads(bench.journal_key(digits, models))


def test_options_are_checked_against_the_config_declaration(bench):
    from mmft_kit.errors import InvalidInputError

    args = bench.parse_args(["--clip", "embedded:ci", "--epochs", "3", "--words", "20"])
    assert (args.clip, args.epochs, args.words, args.eval_every, args.config.lr) == ("embedded:ci", 3, 20, 5, 3e-4)
    with pytest.raises(InvalidInputError, match="epochs = '0': Input should be greater than or equal to 1"):
        bench.parse_args(["--epochs", "0"])


def test_a_new_captioner_reruns_only_the_methods_that_train_on_captions(bench, tmp_path, monkeypatch):
    argv = ["--clip", "embedded:ci", "--captioner", "label", "--datasets", "glyphs", "--methods", "zeroshot",
            "linear_probe", "--shots", "1", "--seeds", "0", "--workers", "1", "--out", str(tmp_path)]
    threads = torch.get_num_threads()
    bench.main(argv)
    torch.set_num_threads(threads)
    journal = tmp_path / bench.JOURNAL
    entries = bench.read_jsonl(journal)
    journal.unlink()
    for entry in entries:  # as written before: every key carries the captioner's hash, here an older one
        key = json.loads(entry["key"])
        key["models"]["captioner"] = "an0lderhash0"
        bench.append_jsonl(journal, {"key": json.dumps(key, sort_keys=True), "row": entry["row"]})
    monkeypatch.setattr(bench, "run_row", lambda config: pytest.fail(f"{config.method} rerun for a new captioner"))
    bench.main(argv)
    assert "2 taken from it" in (tmp_path / "few_shot.md").read_text()
    mmft = bench.make_config(bench.parse_args(argv), "glyphs", "mmft", 1, 0, 3e-4, 0.3)
    assert bench.journal_key(mmft, {"clip": "a", "captioner": "b"}) != bench.journal_key(mmft, {"clip": "a",
                                                                                                "captioner": "c"})
