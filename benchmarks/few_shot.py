"""Few-shot benchmark of the synthetic-captions method (``mmft``) against every baseline, in distribution and shifted.

The baselines: zero-shot; the fine-tuned FLYP, FLYP-ens and CE; and the frozen-feature linear probe,
Tip-Adapter, Tip-Adapter-F and LP++; every method of :data:`mmft_kit.methods.METHODS` whose run config is a
``TrainConfig`` (a method registered from outside too). Each run is tested on its own test
split and on its data set's shifted variants (``--eval-sets shifted``: the world tasks' other
backgrounds, noise and outlines; ``mmft_kit.data.shifted_variants``); ``--wise-ft`` also traces the
WiSE-FT curve of the fine-tuned methods at the largest number of shots.

    python -m benchmarks.few_shot --tune    # once: each method's lr (and mmft's w) on validation data
    python -m benchmarks.few_shot           # every method × data set × shots × seed, with the tuned values

By default: the embedded CLIP and the embedded VLM as captioner, the world suite
(``mmft_kit.data.WORLD_TASKS``) and digits, 1, 2, 4, 8 and 16 shots, seeds 0, 1 and 2, on two
worker processes with one thread each. Captions are made first, once, for every image any
run trains on (the caption stores live in the kit's cache and are reused by later runs).

Any open_clip model, any captioner and any registry data set go through the same flags. The
paper's own setting (open_clip ViT-B-32 with OpenAI weights, the 13 data sets under ROOT, a
local instruction-tuned VLM as captioner, the authors' optimiser settings), on a GPU::

    python -m benchmarks.few_shot --clip ViT-B-32 --pretrained openai \\
        --captioner Qwen/Qwen2.5-VL-3B-Instruct --root ROOT \\
        --datasets pets flowers102 dtd gtsrb stanford_cars fgvc_aircraft cifar10 cifar100 imagenet \\
                   eurosat caltech101 food101 cub200 \\
        --epochs 50 --eval-every 1 --lr 1e-5 --w 0.1 --workers 1 --out results/paper

Writes into ``--out`` (default ``benchmarks/results/``): ``few_shot.csv`` (one row per run:
dataset, method, shots, seed, test accuracy), ``few_shot.runs.csv`` (the same runs with
validation, zero-shot and shifted accuracy, best epoch, settings and seconds), ``few_shot.md`` (mean ±
standard error in distribution and shifted, the comparison, runtime), ``few_shot.png``,
``few_shot_shift.png`` and, with ``--wise-ft``, ``few_shot.wise_ft.json`` and
``few_shot_wise_ft.png``. The headline is printed last; ``--tune`` writes
``few_shot.tuning.csv`` and ``few_shot.hparams.json``. Test data are touched only by the final
evaluation of each run: learning rates, ``w`` and the kept epoch are chosen on validation data.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Callable, Iterable, Sequence

import numpy as np
from pydantic import Field, field_validator

from mmft_kit.data import WORLD_TASKS, LabelledSubset, shifted_variants
from mmft_kit.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from mmft_kit.methods import METHODS as REGISTRY, Method, make_config as method_config
from mmft_kit.models import model_hash
from mmft_kit.params import SeedsParams, add_arguments, from_arguments
from mmft_kit.params.captions import CaptionerSettings
from mmft_kit.report import mean_se, save_figure, write_csv
from mmft_kit.train import TrainConfig, load_run_data, run, store_path
from mmft_kit.train.config import SHIFTED
from mmft_kit.train.data import load_split

RESULTS = Path(__file__).resolve().parent / "results"
#: Every finished run, appended as it ends (in ``--out``); a later invocation takes the runs it holds for the same
#: run config and model hashes instead of redoing them, so an interrupted benchmark resumes.
JOURNAL = "few_shot.journal.jsonl"
DEFAULT_DATASETS = (*WORLD_TASKS, "digits")
#: Fixed beforehand for the 30-minute CPU budget (not tuned): epochs, validation points, batch.
EPOCHS, EVAL_EVERY, BATCH_SIZE = 10, 5, 64
#: Options declared by the run config (type, range, meaning: TrainConfig), with this benchmark's defaults.
CONFIG_OPTIONS = ("clip", "pretrained", "captioner", "root", "words", "epochs", "eval_every", "batch_size", "device",
                  "eval_sets", "wise_ft")
DEFAULTS = {"epochs": EPOCHS, "eval_every": EVAL_EVERY, "batch_size": BATCH_SIZE, "eval_sets": [SHIFTED]}
#: The learning-rate and w grids of --tune, its seed (not a benchmark seed) and shots.
LR_GRID = (1e-4, 3e-4, 1e-3, 3e-3)
W_GRID = (0.0, 0.1, 0.3)
TUNE_SEED, TUNE_SHOTS = 100, (2, 8)
FALLBACK = {"lr": 1e-4, "w": 0.1}
PAPER = {"lr": 1e-5, "w": 0.1}
RUN_COLUMNS = ("dataset", "method", "shots", "seed", "accuracy", "val_accuracy", "zeroshot_accuracy",
               "shifted_accuracy", "best_epoch", "lr", "w", "epochs", "seconds")
#: Resolution of the figures.
DPI = 110
#: The WiSE-FT mixing weights reported in the table (the figure shows every α).
WISE_TABLE_ALPHAS = (0.0, 0.5, 1.0)


# -- settings ---------------------------------------------------------------------------------------
def benchmark_methods() -> dict[str, Method]:
    """The methods this benchmark runs: every registered method configured by a TrainConfig (data set, shots,
    captions), a method registered from outside included."""
    return {name: m for name, m in REGISTRY.items() if issubclass(m.config, TrainConfig)}


def trained_methods() -> tuple[str, ...]:
    """The methods with a WiSE-FT curve and a tuned learning rate."""
    return tuple(name for name, m in benchmark_methods().items() if m.wise_ft)


class Grid(SeedsParams):
    """The benchmark's grid: every data set × method × number of shots × seed is one run."""

    datasets: list[str] = Field(list(DEFAULT_DATASETS), min_length=1, description="registry names or folders")
    methods: list[str] | None = Field(None, min_length=1, description="methods to run (None: every method "
                                                                      "of mmft_kit.methods.METHODS with a TrainConfig)")
    shot_counts: list[Annotated[int, Field(ge=1)]] = Field([1, 2, 4, 8, 16], min_length=1,
                                                           description="numbers of shots, one run each")

    @field_validator("methods")
    @classmethod
    def _known(cls, names: list[str] | None) -> list[str] | None:
        unknown = [n for n in names or [] if n not in benchmark_methods()]
        if unknown:
            raise ValueError(f"{unknown} are no methods this benchmark runs; choose from {list(benchmark_methods())}")
        return names


#: This benchmark's defaults for options declared elsewhere; option names that differ from their field's.
GRID_DEFAULTS, FLAGS = {"seeds": [0, 1, 2]}, {"shot_counts": "--shots"}
#: Options that replace the tuned values for every method (declared by TrainConfig).
OVERRIDES = ("lr", "w")
CAPTION_DEFAULTS = {"caption_batch_size": 32}


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's command line (options declared by the kit's models carry their declarations)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, TrainConfig, CONFIG_OPTIONS, DEFAULTS)
    add_arguments(parser, Grid, defaults=GRID_DEFAULTS, flags=FLAGS)
    add_arguments(parser, TrainConfig, OVERRIDES, defaults={name: "the tuned one" for name in OVERRIDES})
    add_arguments(parser, CaptionerSettings, list(CAPTION_DEFAULTS), CAPTION_DEFAULTS)
    parser.add_argument("--store-dir", type=Path, default=None,
                        help="folder of the caption stores (default: the kit's cache, <cache>/captions)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (1: run in this process)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--hparams", type=Path, default=None, help="tuned values (default: OUT/few_shot.hparams.json)")
    parser.add_argument("--tune", action="store_true", help="choose lr per method and mmft's w on validation data")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.config = from_arguments(TrainConfig, args, CONFIG_OPTIONS, DEFAULTS, progress=False)  # checked
    vars(args).update({name: getattr(args.config, name) for name in CONFIG_OPTIONS})
    grid = from_arguments(Grid, args, defaults=GRID_DEFAULTS)
    args.datasets, args.shots, args.seeds = grid.datasets, grid.shot_counts, grid.seeds
    args.methods = grid.methods or list(benchmark_methods())
    overrides = from_arguments(TrainConfig, args, OVERRIDES)  # checked; None where not given
    vars(args).update({name: getattr(overrides, name) if name in vars(args) else None for name in OVERRIDES})
    captioning = from_arguments(CaptionerSettings, args, CAPTION_DEFAULTS, CAPTION_DEFAULTS)
    args.caption_batch_size = captioning.caption_batch_size
    args.hparams = args.hparams or args.out / "few_shot.hparams.json"
    args.models = {"clip": model_hash("clip", args.clip), "captioner": model_hash("vlm", args.captioner)}
    return args


def tuned_values(args: argparse.Namespace) -> tuple[dict[str, dict], str, dict]:
    """Per method ``{"lr", "w"}`` (command line, else the tuned file, else :data:`FALLBACK`), where they came
    from, and the tuning file's validation means (empty without one)."""
    tuned = json.loads(args.hparams.read_text()) if args.hparams.is_file() else {}
    values = {}
    for method in benchmark_methods():
        values[method] = {**FALLBACK, **tuned.get("chosen", {}).get(method, {})}
        if args.lr is not None:
            values[method]["lr"] = args.lr
        if args.w is not None:
            values[method]["w"] = args.w
    source = (f"chosen on validation data by `--tune` ({args.hparams.name}: {tuned.get('selection', '')})" if tuned
              else f"not tuned: defaults {FALLBACK}")
    if args.lr is not None or args.w is not None:
        source += "; overridden on the command line"
    return values, source, tuned.get("val_mean", {})


def make_config(args: argparse.Namespace, dataset: str, method: str, shots: int, seed: int, lr: float,
                w: float) -> TrainConfig:
    store = str(args.store_dir / f"{dataset}--{Path(args.captioner).name}.jsonl") if args.store_dir else None
    wise_ft = args.wise_ft and method in trained_methods() and shots == max(args.shots)
    return method_config(method, **{**args.config.model_dump(exclude={"method"}), **dict(
        dataset=dataset, shots=shots, seed=seed, lr=lr, w=w, caption_store=store, wise_ft=wise_ft)})


# -- workers ----------------------------------------------------------------------------------------
def _init_worker(threads: int, quiet: bool = False) -> None:
    import torch

    torch.set_num_threads(threads)
    if quiet:  # workers share the terminal: only the parent's bar is shown
        os.environ["TQDM_DISABLE"] = "1"  # tqdm >= 4.66 reads its defaults from TQDM_* variables


@lru_cache(maxsize=1)
def _captioner(name: str, device: str | None, batch_size: int):
    from mmft_kit.models import load_captioner

    return load_captioner(name, device=device, batch_size=batch_size)


def caption_images(config: TrainConfig, indices: list[int], batch_size: int) -> tuple[str, int, int]:
    """Caption the train images ``indices`` of ``config.dataset`` into its store (missing ones only);
    return the data set, the captions made and the images whose captions were already there."""
    from mmft_kit.captions import caption_dataset

    train = load_split(config.dataset, config.root, "train")
    subset = LabelledSubset(train, indices, [train.targets[i] for i in indices], train.classnames, train.domain)
    report = caption_dataset(subset, _captioner(config.captioner, config.device, batch_size), store_path(config),
                             words=config.words, progress=False)
    return config.dataset, report.captions, report.reused


def run_row(config: TrainConfig) -> dict:
    """One run, as a row of ``few_shot.runs.csv``."""
    result = run(config)
    row = {"dataset": config.dataset, "method": config.method, "shots": config.shots, "seed": config.seed,
           "accuracy": result.test, "val_accuracy": result.val, "zeroshot_accuracy": result.extra.get("zeroshot", ""),
           "shifted_accuracy": result.summary().get("shifted", ""), "best_epoch": result.best_epoch,
           "lr": config.lr, "w": config.w, "epochs": config.epochs, "seconds": round(result.seconds, 2)}
    if result.extra.get("wise_ft"):
        shifted = list(result.extra.get("wise_ft_eval", {}).values())
        row["wise_ft"] = {"test": result.extra["wise_ft"],
                          "shifted": [(a, float(np.mean([c[i][1] for c in shifted])))
                                      for i, (a, _) in enumerate(result.extra["wise_ft"])] if shifted else []}
    return row


def parallel(function, jobs: Sequence[tuple], workers: int, threads: int, desc: str,
             on_result: Callable[[int, object], None] | None = None) -> list:
    """``[function(*job) for job in jobs]`` on ``workers`` processes (in this one when ``workers`` ≤ 1);
    ``on_result(i, result)`` is called as each job ends."""
    from tqdm.auto import tqdm

    def finished(i: int, result):
        if on_result is not None:
            on_result(i, result)
        return result

    if workers <= 1:
        _init_worker(threads)
        return [finished(i, function(*job)) for i, job in enumerate(tqdm(jobs, desc=desc))]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(threads, True)) as pool:
        futures = {pool.submit(function, *job): i for i, job in enumerate(jobs)}
        results = [None] * len(jobs)
        for future in tqdm(as_completed(futures), total=len(jobs), desc=desc):
            results[futures[future]] = finished(futures[future], future.result())
    return results


# -- stages -----------------------------------------------------------------------------------------
def caption_stage(args: argparse.Namespace, seeds: Iterable[int], shots: int) -> dict:
    """Caption every train image an mmft run of ``seeds`` with up to ``shots`` shots uses (few-shot sets are nested)."""
    jobs = []
    for dataset in args.datasets:
        config = make_config(args, dataset, "mmft", shots, 0, 1e-4, 0.1)
        indices = sorted({i for seed in seeds for i in load_run_data(config.updated(seed=seed)).train_indices})
        jobs.append((config, indices, args.caption_batch_size))
    start = time.perf_counter()
    done = parallel(caption_images, jobs, min(args.workers, len(jobs)), args.threads, "captioning")
    return {"seconds": time.perf_counter() - start, "made": sum(n for _, n, _ in done),
            "reused": sum(r for _, _, r in done), "images": sum(len(j[1]) for j in jobs)}


_COST = {"mmft": 0, "flyp_ens": 1, "flyp": 2, "ce": 3, "linear_probe": 4, "zeroshot": 5}  # others: cheapest


def journal_key(config: TrainConfig, models: dict) -> str:
    """What identifies a run in the journal: its whole run config, the hashes of the models it loads (the
    captioner's only for a method that trains on captions, so a new captioner reruns only those) and, for a
    world task, the digest of its rules (a task whose images changed reruns)."""
    task = WORLD_TASKS.get(config.dataset)
    return _key(config.model_dump(mode="json"), models, task.fingerprint() if task else None)


def _key(config: dict, models: dict, data: str | None) -> str:
    loaded = {k: v for k, v in models.items() if k != "captioner" or REGISTRY[config["method"]].uses_captions}
    return json.dumps({"config": config, "models": loaded, **({"data": data} if data else {})}, sort_keys=True)


def journal_rows(journal: Path) -> dict[str, dict]:
    """The journal's rows by :func:`journal_key` (keys written before it left out the captioner's hash for
    methods without captions are read as it writes them now)."""
    rows = {}
    for entry in read_jsonl(journal):
        if "row" in entry:
            key = json.loads(entry["key"])
            rows[_key(key["config"], key["models"], key.get("data"))] = entry["row"]
    return rows


def run_stage(args: argparse.Namespace, configs: list[TrainConfig], desc: str) -> tuple[list[dict], float, int]:
    """Every config's row (those the journal holds taken from it; the others run longest first, for balance,
    each journalled as it ends), the wall seconds and how many rows came from the journal."""
    journal = args.out / JOURNAL
    done = journal_rows(journal)
    keys = [journal_key(c, args.models) for c in configs]
    todo = sorted({k: c for k, c in zip(keys, configs) if k not in done}.items(),
                  key=lambda kc: (-(kc[1].shots or 0), _COST.get(kc[1].method, 6)))

    def record(i: int, row: dict) -> None:
        done[todo[i][0]] = row
        append_jsonl(journal, {"key": todo[i][0], "row": row})

    start = time.perf_counter()
    parallel(run_row, [(c,) for _, c in todo], args.workers, args.threads, desc, on_result=record)
    return [done[k] for k in keys], time.perf_counter() - start, len(configs) - len(todo)


def tune(args: argparse.Namespace) -> dict:
    """Choose each trained method's lr on validation data, then mmft's w at its lr; write the evidence."""
    methods = [m for m in args.methods if m in trained_methods()]
    args.config = args.config.updated(eval_sets=[], wise_ft=False)  # tuning reads validation accuracy alone
    captions = caption_stage(args, [TUNE_SEED], max(TUNE_SHOTS)) if "mmft" in methods else {"seconds": 0.0}
    grid = [make_config(args, d, m, s, TUNE_SEED, lr, 0.1)
            for m in methods for lr in LR_GRID for d in args.datasets for s in TUNE_SHOTS]
    rows, seconds, _ = run_stage(args, grid, "tuning lr")
    chosen = {m: {"lr": _best(rows, m, "lr"), "w": 0.1} for m in methods}
    if "mmft" in methods:
        extra = [make_config(args, d, "mmft", s, TUNE_SEED, chosen["mmft"]["lr"], w)
                 for w in W_GRID if w != 0.1 for d in args.datasets for s in TUNE_SHOTS]
        more, more_seconds, _ = run_stage(args, extra, "tuning w")
        rows, seconds = rows + more, seconds + more_seconds
        chosen["mmft"]["w"] = _best([r for r in rows if r["lr"] == chosen["mmft"]["lr"]], "mmft", "w")
    _write_csv(args.out / "few_shot.tuning.csv", rows, RUN_COLUMNS[:2] + ("shots", "seed", "lr", "w", "val_accuracy",
                                                                           "best_epoch", "seconds"))
    means = {"lr": {m: {f"{lr:g}": v for (lr, w), v in _val_means(rows, m).items() if w == 0.1} for m in methods}}
    if "mmft" in methods:
        means["w"] = {f"{w:g}": v for (lr, w), v in _val_means(rows, "mmft").items() if lr == chosen["mmft"]["lr"]}
    atomic_write_json(args.hparams, {
        "chosen": chosen, "val_mean": means,
        "selection": f"mean best-epoch validation accuracy over {list(args.datasets)} × shots {list(TUNE_SHOTS)}, "
                     f"seed {TUNE_SEED} (not a benchmark seed); lr first (w = 0.1), then mmft's w at its lr; "
                     "ties go to the paper's value, else the smaller",
        "grid": {"lr": list(LR_GRID), "w": list(W_GRID)},
        "fixed": {"epochs": args.epochs, "eval_every": args.eval_every, "batch_size": args.batch_size},
        "model": args.clip, "captioner": args.captioner, "model_hashes": args.models, "seconds": round(captions["seconds"] + seconds, 1),
    })
    return chosen


def _val_means(rows: list[dict], method: str) -> dict[tuple[float, float], float]:
    groups: dict[tuple[float, float], list[float]] = {}
    for row in rows:
        if row["method"] == method:
            groups.setdefault((row["lr"], row["w"]), []).append(row["val_accuracy"])
    return {key: float(np.mean(values)) for key, values in sorted(groups.items())}


def _best(rows: list[dict], method: str, key: str) -> float:
    """The value of ``key`` ("lr" or "w") with the highest mean validation accuracy; ties go to the paper's
    value (:data:`PAPER`) when it is among them, else to the smallest."""
    means = _val_means(rows, method)
    best = max(means.values())
    tied = {k[0 if key == "lr" else 1] for k, v in means.items() if v == best}
    return PAPER[key] if PAPER[key] in tied else min(tied)


# -- outputs ----------------------------------------------------------------------------------------
def _write_csv(path: Path, rows: list[dict], columns: Sequence[str]) -> None:
    write_csv(path, sorted(rows, key=lambda r: tuple(r[c] for c in ("dataset", "method", "shots", "seed"))), columns)


def cells(rows: list[dict], key: str = "accuracy") -> dict[tuple[str, str, int], list[float]]:
    """Accuracies (test by default; ``shifted_accuracy``: mean over the shifted sets) by (dataset, method,
    shots), in seed order; rows without the figure are left out."""
    grouped: dict[tuple[str, str, int], list[tuple[int, float]]] = {}
    for row in rows:
        if row.get(key) not in (None, ""):
            grouped.setdefault((row["dataset"], row["method"], int(row["shots"])), []).append(
                (int(row["seed"]), float(row[key])))
    return {key: [a for _, a in sorted(values)] for key, values in grouped.items()}


def dataset_average(table: dict, datasets: Sequence[str], method: str, shots: int) -> list[float]:
    """Per seed, the accuracy averaged over ``datasets``."""
    return list(np.mean([table[(d, method, shots)] for d in datasets], axis=0))


def shifted_datasets(rows: list[dict], datasets: Sequence[str]) -> list[str]:
    """The data sets whose runs were all tested on shifted variants (a method without them leaves its data
    sets out of the shifted tables)."""
    untested = {row["dataset"] for row in rows if row.get("shifted_accuracy") in (None, "")}
    return [d for d in datasets if d not in untested and any(row["dataset"] == d for row in rows)]


def comparison(table: dict, datasets: Sequence[str], shots: Sequence[int], other: str) -> str:
    """How mmft fares against ``other`` over every (data set, shots) cell, by mean test accuracy."""
    wins, losses, ties, clear_wins, clear_losses = [], [], 0, 0, 0
    for d in datasets:
        for s in shots:
            (m1, e1), (m2, e2) = mean_se(table[(d, "mmft", s)]), mean_se(table[(d, other, s)])
            diff, noise = m1 - m2, 2 * np.hypot(e1, e2)
            if abs(diff) < 1e-9:
                ties += 1
            elif diff > 0:
                wins.append(f"{d}/{s}")
                clear_wins += diff > noise
            else:
                losses.append(f"{d}/{s}")
                clear_losses += -diff > noise
    total = len(datasets) * len(shots)
    return (f"mmft vs {other}: higher mean in {len(wins)} of {total} (data set, shots) cells "
            f"({clear_wins} by more than 2 combined standard errors), lower in {len(losses)} ({clear_losses} "
            f"clearly), equal in {ties}. Lower in: {', '.join(losses) or 'none'}.")


def ranks(table: dict, datasets: Sequence[str], shots: Sequence[int], methods: Sequence[str]) -> str:
    """mmft's rank among ``methods`` by mean accuracy over ``datasets``, at each number of shots."""
    parts = []
    for s in shots:
        means = {m: float(np.mean(dataset_average(table, datasets, m, s))) for m in methods}
        parts.append(f"{s} shots {1 + sum(v > means['mmft'] for v in means.values())} "
                     f"({100 * means['mmft']:.1f} %; best {max(means, key=means.get)} {100 * max(means.values()):.1f} %)")
    return f"mmft's rank of {len(methods)} by the mean over the {len(datasets)} data sets: " + "; ".join(parts) + "."


def validation_epochs(args: argparse.Namespace) -> list[int]:
    return [e for e in range(1, args.epochs + 1) if e % args.eval_every == 0 or e == args.epochs]


def markdown(args, rows: list[dict], hparams: dict, source: str, val_means: dict, timing: dict) -> str:
    table = cells(rows)
    methods = [m for m in benchmark_methods() if m in args.methods]
    datasets, shots = list(args.datasets), sorted(args.shots)

    def fmt(values: list[float], best: bool) -> str:
        mean, se = mean_se(values)
        text = f"{100 * mean:.1f} ± {100 * se:.1f}"
        return f"**{text}**" if best else text

    def block(title: str, getter) -> list[str]:
        lines = [f"### {title}", "", "| shots | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
        for s in shots:
            values = [getter(m, s) for m in methods]
            top = max(np.mean(v) for v in values)
            lines.append(f"| {s} | " + " | ".join(fmt(v, np.mean(v) == top) for v in values) + " |")
        return lines + [""]

    lines = [
        "# Few-shot benchmark: MMFT against every baseline, in distribution and shifted", "",
        "Test accuracy (%) as mean ± standard error over seeds " + ", ".join(map(str, args.seeds))
        + "; the best mean of each row in bold. Produced by `python -m benchmarks.few_shot`; one row per run in "
        "`few_shot.csv`, details in `few_shot.runs.csv`.", "",
        "## Setting", "",
        f"- CLIP: `{args.clip}`" + (f" (`{args.pretrained}`)" if args.pretrained else "")
        + f" (recipe hash `{args.models['clip']}`); captioner: `{args.captioner}` (recipe hash "
        f"`{args.models['captioner']}`; {args.words} words, the default characteristics)",
        f"- {args.epochs} epochs, validation after epochs {', '.join(map(str, validation_epochs(args)))} "
        f"(full-size validation set; the best-validation weights are tested), batch {args.batch_size}, "
        f"AdamW (weight decay {args.config.weight_decay:g} on weights, none on gains, biases and the logit scale), "
        "cosine per step to 0 without warm-up",
        "- Methods: " + "; ".join(f"`{m}`: {benchmark_methods()[m].description}" for m in methods),
        "- Learning rates and `w`: " + ", ".join(
            f"{m} lr {hparams[m]['lr']:g}" + (f", w {hparams[m]['w']:g}" if m == "mmft" else "")
            for m in methods if m in trained_methods()) + f"; {source}",
        f"- Runtime: {timing['total']:.0f} s wall in total ({timing['captions']:.0f} s captioning: "
        f"{timing['made']} captions made, {timing['reused']} of {timing['images']} images found captioned in the "
        f"store; "
        f"{timing['runs']:.0f} s for the {len(rows) - timing['resumed']} runs not already in `{JOURNAL}`, "
        f"{timing['resumed']} taken from it; {sum(float(r['seconds']) for r in rows):.0f} s summed over "
        f"every run's own time) on {args.workers} worker process(es) × {args.threads} "
        f"thread(s); {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; mean seconds "
        "per run: " + ", ".join(f"{m} {np.mean([r['seconds'] for r in rows if r['method'] == m]):.1f}"
                                for m in methods), "",
        "## Verdict", "",
    ]
    shifted = shifted_datasets(rows, datasets)
    shifted_table = cells(rows, "shifted_accuracy")
    if "mmft" in methods:
        lines.append(f"- {ranks(table, datasets, shots, methods)}")
        if shifted:
            lines.append(f"- shifted, {ranks(shifted_table, shifted, shots, methods)}")
    for other in (m for m in benchmark_methods() if m != "mmft"):
        if "mmft" in methods and other in methods:
            lines.append(f"- {comparison(table, datasets, shots, other)}")
            if shifted:
                lines.append(f"- shifted, {comparison(shifted_table, shifted, shots, other)}")
    if val_means:
        lines += ["", "## Tuning evidence", "", "Mean validation accuracy (%) of the tuning runs by learning rate "
                  "(w = 0.1), then mmft's w at its chosen learning rate:", ""]
        grid = sorted({lr for means in val_means["lr"].values() for lr in means}, key=float)
        lines += ["| method | " + " | ".join(f"lr {lr}" for lr in grid) + " |", "|---" * (len(grid) + 1) + "|"]
        lines += [f"| {m} | " + " | ".join(f"{100 * means[lr]:.1f}" if lr in means else "" for lr in grid) + " |"
                  for m, means in val_means["lr"].items()]
        if "w" in val_means:
            lines += ["", "| mmft | " + " | ".join(f"w {w}" for w in val_means["w"]) + " |",
                      "|---" * (len(val_means["w"]) + 1) + "|",
                      "| val | " + " | ".join(f"{100 * v:.1f}" for v in val_means["w"].values()) + " |"]
    lines += ["", "## Mean over the data sets", ""]
    lines += block("All data sets", lambda m, s: dataset_average(table, datasets, m, s))
    lines += ["## Per data set", ""]
    for d in datasets:
        lines += block(d, lambda m, s, d=d: table[(d, m, s)])
    if shifted:
        lines += ["## Under distribution shift", "",
                  "Accuracy (%) on the shifted variants of " + ", ".join(f"{d} ({', '.join(shifted_variants(d))})"
                                                                        for d in shifted)
                  + " (the same classes; the mean over a data set's variants, then over the data sets), "
                  "beside the in-distribution test accuracy of the same data sets.", ""]
        lines += block("Shifted", lambda m, s: dataset_average(shifted_table, shifted, m, s))
        lines += block("In distribution, the same data sets", lambda m, s: dataset_average(table, shifted, m, s))
    wise = [r for r in rows if r.get("wise_ft")]
    if wise:
        lines += [f"## WiSE-FT at {max(shots)} shots", "",
                  f"Accuracy (%) of each method's head on the start weights (α = 0), on the fine-tuned weights "
                  f"(α = 1) and on their mixes; mean ± s.e. over seeds of the mean over "
                  f"{', '.join(shifted or datasets)}; every α in `few_shot_wise_ft.png`. At α = 0 mmft's head is "
                  "its caption prototypes computed by the start model: what the captions give without training.",
                  "", "| method | " + " | ".join(f"{which}, α = {a:g}" for which in ("test", "shifted")
                                                 for a in WISE_TABLE_ALPHAS) + " |",
                  "|---" * (1 + 2 * len(WISE_TABLE_ALPHAS)) + "|"]
        for m in [m for m in methods if any(r["method"] == m for r in wise)]:
            curves = wise_curves(wise, m, shifted or datasets)
            lines.append(f"| {m} | " + " | ".join(fmt(curves[which].get(a, [np.nan]), False)
                                                   for which in ("test", "shifted") for a in WISE_TABLE_ALPHAS) + " |")
    return "\n".join(lines)


def wise_curves(rows: list[dict], method: str, datasets: Sequence[str]) -> dict[str, dict[float, list[float]]]:
    """``{"test"|"shifted": {α: per-seed accuracy averaged over datasets}}`` of ``method``'s WiSE-FT runs."""
    out: dict[str, dict[float, list[float]]] = {}
    for which in ("test", "shifted"):
        by_seed: dict[int, dict[float, list[float]]] = {}
        for row in rows:
            if row["method"] == method and row["dataset"] in datasets:
                for alpha, acc in row["wise_ft"][which]:
                    by_seed.setdefault(int(row["seed"]), {}).setdefault(round(float(alpha), 6), []).append(acc)
        alphas = sorted({a for curves in by_seed.values() for a in curves})
        out[which] = {a: [float(np.mean(by_seed[s][a])) for s in sorted(by_seed) if a in by_seed[s]] for a in alphas}
    return out


def plot(args, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = cells(rows)
    methods = [m for m in benchmark_methods() if m in args.methods]
    shots = sorted(args.shots)
    panels = [("mean over data sets", None)] + [(d, d) for d in args.datasets]
    columns = 3
    figure, axes = plt.subplots(-(-len(panels) // columns), columns, figsize=(4 * columns, 3 * -(-len(panels) // columns)),
                                squeeze=False, sharex=True)
    for ax, (title, d) in zip(axes.flat, panels):
        for m in methods:
            stats = [mean_se(dataset_average(table, args.datasets, m, s) if d is None else table[(d, m, s)])
                     for s in shots]
            means, ses = (100 * np.array(x) for x in zip(*stats))
            style = dict(linestyle="--", color="grey") if m == "zeroshot" else dict(marker="o")
            ax.errorbar(shots, means, yerr=ses, label=m, capsize=2, **style)
        ax.set_xscale("log", base=2)
        ax.set_xticks(shots, [str(s) for s in shots])
        ax.set_title(title)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("shots per class")
    axes.flat[0].legend(fontsize=8)
    figure.tight_layout()
    save_figure(figure, path, dpi=DPI)


def robustness_figures(args, rows: list[dict]) -> None:
    """``few_shot_shift.png`` (in distribution vs shifted per method at the largest shots) and, with WiSE-FT
    runs, ``few_shot_wise_ft.png`` (mmft's curve, mean over data sets and seeds) with its data as JSON."""
    import matplotlib

    matplotlib.use("Agg")
    from mmft_kit import viz

    methods, top = [m for m in benchmark_methods() if m in args.methods], max(args.shots)
    shifted = shifted_datasets(rows, args.datasets)
    if shifted:
        table, shifted_table = cells(rows), cells(rows, "shifted_accuracy")
        save_figure(viz.shift_bars([{"method": m, "test": np.mean(dataset_average(table, shifted, m, top)),
                                     "shifted": np.mean(dataset_average(shifted_table, shifted, m, top))}
                                    for m in methods]), args.out / "few_shot_shift.png", dpi=DPI)
    wise = [r for r in rows if r.get("wise_ft")]
    if not wise:
        return
    curves = {m: wise_curves(wise, m, shifted or args.datasets) for m in methods if m in trained_methods()}
    atomic_write_json(args.out / "few_shot.wise_ft.json", {
        "shots": top, "datasets": shifted or list(args.datasets),
        "curves": {m: {which: [[a, v] for a, v in c[which].items()] for which in c} for m, c in curves.items()}})
    if "mmft" in curves:
        mean = {which: [(a, float(np.mean(v))) for a, v in curves["mmft"][which].items()] for which in ("test", "shifted")}
        figure = viz.wise_ft_shift_figure(mean["test"], {"shifted (mean)": mean["shifted"]} if mean["shifted"] else {},
                                          f"WiSE-FT of mmft at {top} shots, mean over data sets and seeds")
        save_figure(figure, args.out / "few_shot_wise_ft.png", dpi=DPI)


def headline(args, rows: list[dict]) -> str:
    """mmft and the best other method at the largest number of shots, in distribution and shifted."""
    top, parts = max(args.shots), []
    for key, label, datasets in (("accuracy", "test", list(args.datasets)),
                                 ("shifted_accuracy", "shifted", shifted_datasets(rows, args.datasets))):
        table = cells(rows, key)
        means = {m: float(np.mean(dataset_average(table, datasets, m, top))) for m in args.methods} if datasets else {}
        if means:
            best_other = max((m for m in means if m != "mmft"), key=means.get, default=None)
            parts.append(f"{label}: " + ", ".join(f"{m} {100 * means[m]:.1f}%" for m in ("mmft", best_other)
                                                   if m in means))
    return f"headline ({top} shots, mean over data sets; mmft, then the best other method): " + "; ".join(parts)


# -- main -------------------------------------------------------------------------------------------
def benchmark(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    hparams, source, val_means = tuned_values(args)
    captions = caption_stage(args, args.seeds, max(args.shots)) if "mmft" in args.methods else {"seconds": 0.0}
    configs = [make_config(args, d, m, s, seed, hparams[m]["lr"], hparams[m]["w"])
               for d in args.datasets for m in args.methods for s in args.shots for seed in args.seeds]
    rows, seconds, resumed = run_stage(args, configs, "runs")
    timing = {"resumed": resumed, "captions": captions["seconds"], "made": captions.get("made", 0), "reused": captions.get("reused", 0),
              "images": captions.get("images", 0), "runs": seconds, "total": time.perf_counter() - start}
    args.out.mkdir(parents=True, exist_ok=True)
    _write_csv(args.out / "few_shot.csv", rows, ("dataset", "method", "shots", "seed", "accuracy"))
    _write_csv(args.out / "few_shot.runs.csv", rows, RUN_COLUMNS)
    atomic_write_text(args.out / "few_shot.md", markdown(args, rows, hparams, source, val_means, timing) + "\n")
    plot(args, rows, args.out / "few_shot.png")
    robustness_figures(args, rows)
    print(f"{len(rows)} runs in {timing['total']:.0f} s (captioning {timing['captions']:.0f} s); "
          f"results in {args.out}")
    print(headline(args, rows))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.tune:
        print(json.dumps(tune(args), indent=2))
    else:
        benchmark(args)


if __name__ == "__main__":
    main()
