"""``python -m mmft_kit prompts rank``: rank caption prompts (templates × characteristic sets) by their cheap
downstream score, resumably, into CSV and Markdown.

Every option is a field of :class:`~mmft_kit.params.prompts.PromptRankJob`, declared there once.
"""

from __future__ import annotations

import argparse

#: Option names that differ from their field's name.
FLAGS = {"caption_batch_size": "--batch-size", "rank_dir": "--out"}
#: Fields the ranking replaces with lists (templates, characteristic_sets), and the store: each template's captions
#: go to its own default store (a store holds the captions of one template).
REPLACED = ("template", "characteristics", "caption_store")
#: The options of the back ends, in their own groups (as ``caption`` has them).
IN_PROCESS = ("caption_batch_size", "device", "dtype")
SERVED = ("base_url", "api_key_env", "concurrency", "timeout", "max_retries")


def register(subparsers) -> None:
    from ..params import add_arguments
    from ..params.prompts import PromptRankJob

    parser = subparsers.add_parser("prompts", help="score and rank caption prompts without fine-tuning",
                                   description="Caption prompts scored by MMFT's caption-prototype head on the "
                                               "frozen start CLIP (validation accuracy ± s.e. over few-shot draws).")
    actions = parser.add_subparsers(dest="action", metavar="rank", required=True)
    rank = actions.add_parser(
        "rank", help="rank templates × characteristic sets (resumable; CSV + Markdown)",
        description=(
            "Score every template × characteristic set: caption --shots images per class of --dataset (--draws\n"
            "few-shot draws), build MMFT's class-average caption prototypes on the frozen start CLIP and\n"
            "report validation accuracy ± s.e., with caption length, characteristic-word use and time.\n"
            "Rows finished before are kept (OUT/rank.jsonl) and captions come from the caption store, so an\n"
            "interrupted ranking continues where it stopped; OUT/rank.csv and OUT/rank.md are rewritten\n"
            "atomically after every row."
        ),
        epilog=(
            "examples:\n"
            "  python -m mmft_kit prompts rank --dataset glyphs --templates differentiate \\\n"
            "      'Describe the {characteristic} of this {class_name} in {words} words.' my_template.txt\n"
            "  python -m mmft_kit prompts rank --characteristic-sets visual shape texture visual+shape+texture"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backend = set(IN_PROCESS + SERVED)
    add_arguments(rank, PromptRankJob, [n for n in PromptRankJob.model_fields if n not in backend | set(REPLACED)],
                  flags=FLAGS)
    add_arguments(rank.add_argument_group("in-process models (embedded, hub ids, folders)"), PromptRankJob,
                  IN_PROCESS, flags=FLAGS)
    add_arguments(rank.add_argument_group("served models (--captioner openai:MODEL)"), PromptRankJob, SERVED,
                  flags=FLAGS)
    rank.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..params import from_arguments
    from ..params.prompts import PromptRankJob
    from ..train.prompt_rank import rank_prompts

    job = from_arguments(PromptRankJob, args)

    def report(row: dict) -> None:
        name = row["name"] or row["template"][:60]
        if row.get("failed"):
            print(f"failed  {row['characteristics']:24s} {name}\n    {row['failed']}", flush=True)
            return
        print(f"{row['score']:.3f} ± {row['se']:.3f}  {row['characteristics']:24s} {row['mean_words']:5.1f} words  "
              f"{row['seconds']:5.1f} s  {name}" + (f"\n    notice: {row['notices']}" if row["notices"] else ""),
              flush=True)

    rows, failed = rank_prompts(job, report=report)
    tables = f"{job.rank_dir}/rank.csv, {job.rank_dir}/rank.md"
    if rows:
        print(f"{len(rows)} rows -> {tables} (best: {rows[0]['score']:.3f}, "
              f"{rows[0]['name'] or rows[0]['template'][:60]}, {rows[0]['characteristics']})")
    if failed:
        print(f"{len(failed)} rows failed and were skipped (listed at the end of {tables}; a rerun tries them again):",
              *[f"  {row['name']} ({row['characteristics']}): {row['failed']}" for row in failed], sep="\n")
    return 1 if failed else 0
