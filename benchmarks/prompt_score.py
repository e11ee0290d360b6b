"""Does the cheap prompt score rank caption prompts the way fine-tuning does?

For each prompt of :data:`PROMPTS` (the paper's template, weaker and stronger variants, characteristic subsets,
word budgets) and each data set of :data:`DATASETS` (chosen before any run: three 8-class world tasks of
different kinds: shapes, colours and sizes, patterns), this benchmark computes

* the cheap score (:func:`mmft_kit.train.prompt_score.score_prompt`): validation accuracy of MMFT's
  caption-prototype head on the frozen start CLIP, over the few-shot draws of seeds 0, 1, 2;
* fine-tuned MMFT test accuracy with the same captions, the same few-shot draws (seeds 0, 1, 2) and the few-shot
  benchmark's settings (its tuned ``lr`` and ``w`` from ``few_shot.hparams.json``, its epochs, validation points
  and batch; nothing tuned here, nothing chosen on test);

and prints Spearman's ρ between the two over the prompts, per data set, with a 95 % bootstrap interval over
prompts (scipy's ``spearmanr`` on each resample). Every finished score and run is kept in
``prompt_score.<shots>shots.jsonl`` and never computed again, so an interrupted run continues where it stopped. A
prompt the captioner writes nothing for is recorded as failed with its reason, not fine-tuned, left out of ρ and
listed at the end of the report; the benchmark goes on.

    python -m benchmarks.prompt_score                 # 4 shots → benchmarks/results/prompt_score.4shots.{jsonl,md,png}
    python -m benchmarks.prompt_score --shots 16      # the second measurement → prompt_score.16shots.*
    python -m benchmarks.prompt_score --shots 16 --only tiles   # one data set (e.g. one process per core)
    python -m benchmarks.prompt_score --only badges badges_outline critters_noisy --name m3   # measurement 3
                                                      # → prompt_score.4shots.m3.*

``benchmarks/results/prompt_score.md`` holds the three measurements' designs and correlation tables.

Headline (printed last): ``rho=<median ρ over data sets>``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.stats import spearmanr

from mmft_kit.captions import resolve_template
from mmft_kit.io import append_jsonl, atomic_write_text, read_jsonl
from mmft_kit.methods import make_config, run
from mmft_kit.params import add_arguments, from_arguments
from mmft_kit.params.prompts import PromptScoreParams
from mmft_kit.report import mean_se, save_figure
from mmft_kit.train.prompt_score import PromptScoreError, score_prompt
from mmft_kit.zoo import build_report, ensure_clip, ensure_vlm

RESULTS = Path(__file__).resolve().parent / "results"
#: Chosen before running: three 8-class world tasks whose classes differ in shape (glyphs), in colour and size
#: (critters) and in pattern (tiles).
DATASETS = ("glyphs", "critters", "tiles")
#: Measurement 3's data sets, chosen by a rule that uses no prompt ranking (``prompt_score.md``): the three world
#: tasks not in :data:`DATASETS` whose 4-shot MMFT test accuracy in the few-shot benchmark is closest to 60 %.
MEASUREMENT_3 = ("badges", "badges_outline", "critters_noisy")
#: The first seed: the score's draws and the fine-tuning runs use seeds FIRST_SEED … FIRST_SEED + draws − 1.
FIRST_SEED = 0
PAPER = "differentiate"
ALL_THREE = ("visual", "shape", "texture")
#: name → (template, characteristics, words).
PROMPTS: dict[str, tuple[str, tuple[str, ...], int]] = {
    "paper": (PAPER, ALL_THREE, 50),
    "paper, visual only": (PAPER, ("visual",), 50),
    "paper, shape only": (PAPER, ("shape",), 50),
    "paper, texture only": (PAPER, ("texture",), 50),
    "paper, 15 words": (PAPER, ALL_THREE, 15),
    "paper, 100 words": (PAPER, ALL_THREE, 100),
    "weaker: no class name": ("Describe the primary {characteristic} characteristics of this photo of {domain} "
                              "in {words} words.", ALL_THREE, 50),
    "weaker: generic": ("Write about this photo in {words} words.", ("visual",), 50),
    "stronger: contrastive": ("This photo shows a {class_name}, one of several kinds of {domain}. In {words} words, "
                              "describe the {characteristic} details of this {class_name} that set it apart from "
                              "the other {domain}.", ALL_THREE, 50),
    "stronger: contrastive, 30 words": ("This photo shows a {class_name}, one of several kinds of {domain}. In "
                                        "{words} words, describe the {characteristic} details of this {class_name} "
                                        "that set it apart from the other {domain}.", ALL_THREE, 30),
}
#: The options of the scoring settings this benchmark takes from the command line.
OPTIONS = ["clip", "pretrained", "captioner", "caption_batch_size", "shots", "draws"]
#: The few-shot benchmark's fixed settings (epochs, validation points, batch) and its tuned MMFT values.
HPARAMS = RESULTS / "few_shot.hparams.json"
BOOTSTRAP = 2000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, PromptScoreParams, OPTIONS)
    parser.add_argument("--only", nargs="+", choices=DATASETS + MEASUREMENT_3, default=list(DATASETS),
                        metavar="DATASET", help="the data sets to run (default: glyphs, critters, tiles; the report "
                        f"covers the ones given; measurement 3: {' '.join(MEASUREMENT_3)})")
    parser.add_argument("--name", default="", help="a suffix of the results files' name, so that another set of data "
                        "sets keeps files of its own (measurement 3: m3 → prompt_score.4shots.m3.*)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--timing", action="store_true",
                        help="only time one uncached score of the paper's prompt on glyphs (8 classes, --shots shots, 3 draws; "
                             "visual alone, then visual+shape+texture) in an empty caption cache, models loaded first")
    return parser


def _key(row: dict) -> tuple:
    return row["kind"], row["dataset"], row["prompt"], row.get("seed")


def _load(path: Path) -> dict[tuple, dict]:
    return {_key(row): row for row in read_jsonl(path)}


def spearman_interval(x: Sequence[float], y: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """Spearman's ρ of ``x`` and ``y`` and its 95 % percentile bootstrap interval over pairs (resamples whose ρ is
    undefined, with a constant side, are left out)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rho = float(spearmanr(x, y).statistic)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(len(x), size=len(x))
        if np.ptp(x[pick]) > 0 and np.ptp(y[pick]) > 0:
            draws.append(spearmanr(x[pick], y[pick]).statistic)
    low, high = np.nanpercentile(draws, [2.5, 97.5]) if draws else (np.nan, np.nan)
    return rho, float(low), float(high)


def benchmark(args: argparse.Namespace) -> None:
    started = time.time()
    base = from_arguments(PromptScoreParams, args, OPTIONS, seed=FIRST_SEED)
    datasets = [d for d in DATASETS + MEASUREMENT_3 if d in args.only]
    tuned = json.loads(HPARAMS.read_text())
    fixed, mmft = tuned["fixed"], tuned["chosen"]["mmft"]
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{stem(base, args.name)}.jsonl"
    done = _load(path)
    for dataset in datasets:
        for name, (template, characteristics, words) in PROMPTS.items():
            settings = dict(dataset=dataset, template=template, characteristics=list(characteristics), words=words)
            key = ("score", dataset, name, None)
            if key not in done:
                try:
                    score = score_prompt(base, **settings)
                except PromptScoreError as error:
                    done[key] = {"kind": "score", "dataset": dataset, "prompt": name, "failed": str(error),
                                 "seconds": 0.0}
                    append_jsonl(path, done[key])
                    print(f"{dataset:9s} {name:34s} FAILED, skipped: {error}", flush=True)
                    continue
                done[key] = {"kind": "score", "dataset": dataset, "prompt": name, **score.row(),
                             "accuracies": score.accuracies}
                append_jsonl(path, done[key])
                print(f"{dataset:9s} {name:34s} score {score.score:.3f} ± {score.se:.3f} ({score.seconds:.1f} s)",
                      flush=True)
            if done[key].get("failed"):
                continue
            for seed in seeds(base):
                key = ("run", dataset, name, seed)
                if key in done:
                    continue
                config = make_config("mmft", dataset=dataset, shots=base.shots, seed=seed, clip=base.clip,
                                     pretrained=base.pretrained, captioner=base.captioner, template=template,
                                     characteristics=list(characteristics), words=words, lr=mmft["lr"], w=mmft["w"],
                                     epochs=fixed["epochs"], eval_every=fixed["eval_every"],
                                     batch_size=fixed["batch_size"], progress=False, make_captions=True)
                result = run(config)
                done[key] = {"kind": "run", "dataset": dataset, "prompt": name, "seed": seed,
                             "accuracy": result.test, "val_accuracy": result.val, "seconds": round(result.seconds, 2)}
                append_jsonl(path, done[key])
                print(f"{dataset:9s} {name:34s} seed {seed} MMFT test {result.test:.3f}", flush=True)
    report(args, base, done, time.time() - started, datasets)


def seeds(base: PromptScoreParams) -> tuple[int, ...]:
    """The seeds of the score's draws and of the fine-tuning runs."""
    return tuple(range(base.seed, base.seed + base.draws))


def stem(base: PromptScoreParams, name: str = "") -> str:
    """The results files' name without suffix: one set per number of shots (and of seeds, beside the default; and
    ``name``, if given)."""
    default = PromptScoreParams.model_fields["draws"].default
    return (f"prompt_score.{base.shots}shots" + (f".{base.draws}seeds" if base.draws != default else "")
            + (f".{name}" if name else ""))


def scored(done: dict[tuple, dict], dataset: str) -> list[str]:
    """The prompts of ``dataset`` that were scored (not failed)."""
    return [name for name in PROMPTS if not done[("score", dataset, name, None)].get("failed")]


def split_half(done: dict[tuple, dict], dataset: str, seeds: Sequence[int]) -> tuple[float, float]:
    """How reproducible each order is: Spearman ρ over prompts between the first seed's (draw's) accuracy and the
    mean of the others, for fine-tuned MMFT and for the score. A low fine-tuned value means seed noise hides the
    prompts' order, which no score can then predict."""
    finetuned = [[done[("run", dataset, name, seed)]["accuracy"] for seed in seeds] for name in scored(done, dataset)]
    scores = [done[("score", dataset, name, None)]["accuracies"] for name in scored(done, dataset)]
    return tuple(float(spearmanr([a[0] for a in accs], [np.mean(a[1:]) for a in accs]).statistic)
                 for accs in (finetuned, scores))


def _hash(folder: Path) -> str:
    return build_report(folder).get("recipe_hash", "(none)")


def report(args: argparse.Namespace, base: PromptScoreParams, done: dict[tuple, dict], seconds: float,
           datasets: Sequence[str]) -> None:
    """Write the report (.md) and figure (.png) of ``datasets``; print the table, headline last."""
    from mmft_kit.viz import score_vs_finetuned

    points, rhos, lines = {}, {}, []
    score_seconds = sum(row["seconds"] for key, row in done.items() if key[0] == "score")
    run_seconds = sum(row["seconds"] for key, row in done.items() if key[0] == "run")
    failed = [(key[1], key[2], row["failed"]) for key, row in done.items() if row.get("failed")]
    for dataset in datasets:
        rows = []
        for name in scored(done, dataset):
            score = done[("score", dataset, name, None)]
            finetuned = [done[("run", dataset, name, seed)]["accuracy"] for seed in seeds(base)]
            mean, se = mean_se(finetuned)
            rows.append({"prompt": name, "score": score["score"], "se": score["se"], "finetuned": mean,
                         "finetuned_se": se, "mean_words": score["mean_words"], "truncated": score["truncated"]})
        rho, low, high = spearman_interval([r["score"] for r in rows], [r["finetuned"] for r in rows])
        points[dataset], rhos[dataset] = rows, rho
        lines.append((dataset, rho, low, high, rows, split_half(done, dataset, seeds(base))))
    save_figure(score_vs_finetuned(points, rhos), args.out / f"{stem(base, args.name)}.png")
    clip_hash = _hash(ensure_clip(progress=False)) if base.clip == "embedded" else base.clip
    vlm_hash = _hash(ensure_vlm(progress=False)) if base.captioner == "embedded" else base.captioner
    text = [
        "# Does the cheap prompt score predict fine-tuned MMFT accuracy?", "",
        f"`python -m benchmarks.prompt_score --shots {base.shots} --draws {base.draws} --only {' '.join(datasets)}"
        + (f" --name {args.name}" if args.name else "") + f"` ({time.strftime('%Y-%m-%d')}, {platform.node()}, wall time of this "
        f"invocation {seconds / 60:.1f} min; finished rows of earlier invocations are reused: the rows took "
        f"{score_seconds / 60:.1f} min of scoring, captions included, and {run_seconds / 60:.1f} min of "
        f"fine-tuning, on 2 CPU cores shared with other jobs). CLIP `{base.clip}` "
        f"(recipe hash `{clip_hash}`), captioner `{base.captioner}` (recipe hash `{vlm_hash}`), {base.shots} shots, "
        f"seeds {list(seeds(base))} (the score's draws and the fine-tuning runs use the same few-shot images and "
        f"captions). Fine-tuning: MMFT with the few-shot benchmark's settings ({HPARAMS.name}: lr {{lr}}, w {{w}}, "
        "epochs, validation points, batch), test accuracy; the score: validation accuracy of the caption "
        "prototypes on the frozen start CLIP. ρ: Spearman over the prompts, 95 % bootstrap interval over prompts.",
        "", f"| data set | Spearman ρ | 95 % interval | fine-tuned order, seed {base.seed} vs the others | score "
            f"order, draw {base.seed} vs the others |", "|---|---|---|---|---|",
        *[f"| {d} | {rho:.2f} | [{low:.2f}, {high:.2f}] | {halves[0]:.2f} | {halves[1]:.2f} |"
          for d, rho, low, high, _, halves in lines], "",
        "The last two columns say how reproducible each order is over the prompts (Spearman ρ between one seed's "
        "accuracy and the mean of the others): where fine-tuning's own order does not repeat across seeds, no "
        "score can predict it.", "",
    ]
    tuned = json.loads(HPARAMS.read_text())["chosen"]["mmft"]
    text[2] = text[2].replace("{lr}", str(tuned["lr"])).replace("{w}", str(tuned["w"]))
    for dataset, rho, low, high, rows, _ in lines:
        text += [f"## {dataset}", "", "| prompt | score (val, frozen) | fine-tuned MMFT (test) | words | cut |",
                 "|---|---|---|---|---|"]
        text += [f"| {r['prompt']} | {r['score']:.3f} ± {r['se']:.3f} | {r['finetuned']:.3f} ± {r['finetuned_se']:.3f}"
                 f" | {r['mean_words']:.0f} | {r['truncated']:.0%} |" for r in rows]
        text.append("")
    text += ["Prompts (template, characteristics, words):", ""]
    text += [f"- **{name}**: `{resolve_template(t)}`; {'+'.join(c)}; {w}" for name, (t, c, w) in PROMPTS.items()]
    text += ["", "Failed prompts (the captioner wrote nothing; not fine-tuned, left out of ρ):", "",
             *([f"- {d}, {name}: {reason}" for d, name, reason in failed] or ["- none"])]
    atomic_write_text(args.out / f"{stem(base, args.name)}.md", "\n".join(text) + "\n")
    for dataset, rho, low, high, rows, halves in lines:
        for r in rows:
            print(f"{dataset:9s} {r['prompt']:34s} score {r['score']:.3f} ± {r['se']:.3f}   "
                  f"MMFT {r['finetuned']:.3f} ± {r['finetuned_se']:.3f}")
        print(f"{dataset:9s} spearman rho {rho:.2f} [{low:.2f}, {high:.2f}]; split-half rho of the fine-tuned order "
              f"{halves[0]:.2f}, of the score's {halves[1]:.2f}")
    print(f"rho={float(np.median([line[1] for line in lines])):.2f}")


def timing(args: argparse.Namespace) -> None:
    """Time one score of a prompt whose captions are not cached (the models loaded beforehand, as in a notebook)."""
    import tempfile

    base = from_arguments(PromptScoreParams, args, OPTIONS, dataset="glyphs")
    walls = []
    for characteristics in (None, ("visual",), ALL_THREE):  # None: load the models and the validation features
        with tempfile.TemporaryDirectory() as folder:
            os.environ["MMFT_KIT_CACHE"] = folder  # empty caption stores; the shipped models are found beside the code
            if characteristics is None:
                score_prompt(base, shots=1, characteristics=["visual"], words=5)
                continue
            wall, cpu = time.perf_counter(), time.process_time()
            score = score_prompt(base, template=PAPER, characteristics=list(characteristics), words=50)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            walls.append(wall)
            print(f"{'+'.join(characteristics)}: {wall:.1f} s wall, {cpu:.1f} s CPU, {score.captions_made} captions "
                  f"made, score {score.score:.3f} ± {score.se:.3f}, load average {os.getloadavg()[0]:.1f}")
    print(f"seconds_per_prompt={walls[-1]:.1f}")  # the paper's three characteristics


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    timing(args) if args.timing else benchmark(args)


if __name__ == "__main__":
    main()
