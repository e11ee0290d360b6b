"""Rank caption prompts by their cheap score: every template × characteristic set, resumable.

Each finished row is appended to ``<out>/rank.jsonl`` as soon as it is scored, and ``rank.csv`` and ``rank.md``
(best first) are rewritten atomically after it; a rerun skips every row already there (same template text,
characteristics and scoring settings), and the rows it still has to score find the captions made before the
interruption in the caption store, so nothing is captioned twice.

A row the captioner writes nothing for (:class:`~mmft_kit.train.prompt_score.PromptScoreError`) does not stop the
job: it is listed after the ranked rows with its reason in the ``failed`` column, nothing of it is stored, and a
rerun tries it again. A template error (an unknown or malformed placeholder) still refuses the whole job before
anything is captioned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ..captions import Captioner, resolve_template
from ..io import append_jsonl, atomic_write_text, read_jsonl
from ..params.prompts import PromptRankJob
from ..report import csv_text, markdown_table
from .prompt_score import PromptScoreError, score_prompt

#: The columns of rank.csv / rank.md, in order.
COLUMNS = ("rank", "name", "characteristics", "words", "score", "se", "draws", "mean_words",
           "characteristic_word_rate", "class_name_rate", "seconds_per_caption", "truncated", "seconds", "notices",
           "template", "failed")
#: The settings that make two rows the same row (beside the template text and the characteristics).
SCORING = ("dataset", "root", "domain", "words", "shots", "draws", "seed", "clip", "pretrained", "captioner",
           "temperature", "max_new_tokens")


def row_key(job: PromptRankJob, template: str, characteristics: list[str]) -> str:
    """What identifies a row: the template text, the characteristics and the scoring settings."""
    return json.dumps({"template": template, "characteristics": characteristics,
                       **{name: getattr(job, name) for name in SCORING}}, sort_keys=True)


def _finished(path: Path) -> dict[str, dict]:
    """The rows of ``rank.jsonl`` by key (a torn last line of a killed run is left out)."""
    return {row["key"]: row for row in read_jsonl(path)}


def write_tables(rows: list[dict], out: Path, failed: list[dict] = ()) -> list[dict]:
    """Rank ``rows`` best first and write them, then the ``failed`` rows (with their reason), to ``rank.csv`` and
    ``rank.md`` in ``out`` atomically; return the ranked rows."""
    ranked = sorted(rows, key=lambda r: -r["score"])
    for position, row in enumerate(ranked, 1):
        row["rank"] = position
    atomic_write_text(out / "rank.csv", csv_text([*ranked, *failed], COLUMNS))
    atomic_write_text(out / "rank.md", markdown_table([*ranked, *failed], COLUMNS) + "\n")
    return ranked


def failed_row(given: str, template: str, characteristics: list[str], error: PromptScoreError) -> dict:
    """The row of a prompt that could not be scored: its name, template, characteristics and the reason."""
    return {"name": given if given != template else "(string)", "template": template,
            "characteristics": "+".join(characteristics), "failed": str(error)}


def rank_prompts(job: PromptRankJob, captioner: Captioner | None = None,
                 report: Callable[[dict], Any] = lambda row: None) -> tuple[list[dict], list[dict]]:
    """Score every template × characteristic set of ``job`` not scored before.

    Args:
        job: the templates, characteristic sets and scoring settings (:class:`PromptRankJob`).
        captioner: an already loaded captioner (else ``job.captioner`` is loaded once).
        report: called with each newly scored or failed row (the command line prints it).

    Returns:
        All scored rows, best first, and the rows that failed (the captioner wrote nothing for them), each with
        its reason under ``failed``.
    """
    out = Path(job.rank_dir).expanduser()
    journal = out / "rank.jsonl"
    if job.rerun and journal.exists():
        journal.unlink()
    finished = _finished(journal)
    wanted = []
    for given in job.templates:
        template = resolve_template(given)  # a bad placeholder stops the job before anything is scored
        for characteristics in job.characteristic_lists():
            wanted.append((given, template, characteristics, row_key(job, template, characteristics)))
    rows, failed = [], []
    for given, template, characteristics, key in wanted:
        if key not in finished:
            try:
                score = score_prompt(job, captioner=captioner, template=template, characteristics=characteristics)
            except PromptScoreError as error:
                failed.append(failed_row(given, template, characteristics, error))
                report(failed[-1])
                write_tables(list(rows), out, failed)
                continue
            finished[key] = {"key": key, "name": given if given != template else "(string)", **score.row()}
            append_jsonl(journal, finished[key])
            report(finished[key])
        rows.append(finished[key])
        write_tables(list(rows), out, failed)
    return write_tables(rows, out, failed), failed
