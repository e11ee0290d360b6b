"""PaRe against its baselines on the kit's cross-modal tasks: all methods × tasks × seeds.

    python benchmarks/pare.py --tune     # once: pick each method's learning rate on validation data
    python benchmarks/pare.py            # the benchmark, with the tuned learning rates

Writes under ``benchmarks/results/``: ``pare.csv`` (one row per run: task, method, seed, metric,
value; lower is better), ``pare.md`` (mean ± standard error, verdicts, runtime), ``pare.runs.json``
(per-epoch histories), ``pare_lambda_gate.png`` (λ and the gate's score distribution over
training) and, with ``--tune``, ``pare.tuning.csv`` / ``pare.hparams.json``. Test data are only
touched by the final evaluation of each run; learning rates and the best epoch are chosen on
the validation split.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmft_kit.io import atomic_write_bytes, atomic_write_json, atomic_write_text  # noqa: E402
from mmft_kit.pare import METHODS, TrainConfig, fit, get_target_task, load_body, world_source  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_TASKS = ("wdbc", "iris", "signals", "darcy", "spherical")
#: Epochs and batch size per task (fixed beforehand for the CPU budget, not tuned).
TASK_CONFIG = {
    "wdbc": dict(epochs=15, batch_size=32),
    "iris": dict(epochs=20, batch_size=16),
    "wine": dict(epochs=20, batch_size=16),
    "signals": dict(epochs=15, batch_size=32),
    "darcy": dict(epochs=12, batch_size=32),
    "spherical": dict(epochs=12, batch_size=32),
}
TASK_KWARGS = {"darcy": {"progress": False}}
LR_GRID = (3e-4, 1e-3)
TUNING_SEED = 100


def build_tasks(names):
    tasks, seconds = {}, {}
    for name in names:
        tick = time.perf_counter()
        tasks[name] = get_target_task(name, **TASK_KWARGS.get(name, {}))
        seconds[name] = time.perf_counter() - tick
    return tasks, seconds


def config_for(task_name: str, lr: float, epochs: int | None = None) -> TrainConfig:
    settings = dict(TASK_CONFIG.get(task_name, {}))
    if epochs:
        settings["epochs"] = epochs
    return TrainConfig(lr=lr, **settings)


def tune(args, tasks, body, source) -> dict:
    rows, scores = [], {}
    grid = [(name, method, lr) for name in tasks for method in args.methods for lr in LR_GRID]
    for name, method, lr in tqdm(grid, desc="tuning learning rates"):
        _, result = fit(tasks[name], method, config_for(name, lr, args.epochs), body=body, source=source,
                        seed=TUNING_SEED, progress=False)
        scores.setdefault(name, {}).setdefault(method, {})[lr] = result.val
        rows.append(f"{name},{method},{lr},{result.metric},{result.val:.6g},{result.runtime_s:.1f}")
        tqdm.write(f"tune {name:10s} {method:8s} lr={lr:g}: val {result.val:.4f} ({result.runtime_s:.0f}s)")
    chosen = {name: {method: min(by_lr, key=by_lr.get) for method, by_lr in methods.items()}
              for name, methods in scores.items()}
    header = "task,method,lr,metric,val_value,runtime_s\n"
    atomic_write_text(args.out / "pare.tuning.csv", header + "\n".join(rows) + "\n")
    atomic_write_json(args.out / "pare.hparams.json", {"lr": chosen, "grid": list(LR_GRID), "seed": TUNING_SEED})
    return chosen


def mean_se(values):
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return values.mean(), se


def verdict(runs, task, method, baseline) -> str:
    a = [r["value"] for r in runs if r["task"] == task and r["method"] == method]
    b = [r["value"] for r in runs if r["task"] == task and r["method"] == baseline]
    if not a or not b:
        return "n/a"
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    gap = mb - ma
    noise = math.sqrt(sa**2 + sb**2) if not math.isnan(sa + sb) else 0.0
    if abs(gap) <= 2 * noise or gap == 0:
        word = "tie (difference within 2 s.e.)"
    else:
        word = "PaRe better" if gap > 0 else "PaRe worse"
    return f"{word}: {ma:.4f} vs {mb:.4f}"


def write_table(runs, tasks, methods, meta) -> str:
    lines = ["# PaRe benchmark", "", meta["summary"], "",
             "Mean ± standard error over seeds; lower is better. Best mean per row in bold.", "",
             "| task | metric | " + " | ".join(methods) + " |", "|" + " --- |" * (len(methods) + 2)]
    for task in tasks:
        cells, means = [], {}
        for method in methods:
            vals = [r["value"] for r in runs if r["task"] == task and r["method"] == method]
            if vals:
                means[method] = mean_se(vals)
        best = min(means, key=lambda m: means[m][0]) if means else None
        for method in methods:
            if method not in means:
                cells.append("–")
                continue
            m, se = means[method]
            text = f"{m:.4f} ± {se:.4f}"
            cells.append(f"**{text}**" if method == best else text)
        metric = next(r["metric"] for r in runs if r["task"] == task)
        lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    lines += ["", "## Does PaRe beat plain fine-tuning and ORCA?", "",
              "| task | PaRe vs finetune | PaRe vs ORCA |", "| --- | --- | --- |"]
    for task in tasks:
        lines.append(f"| {task} | {verdict(runs, task, 'pare', 'finetune')} | {verdict(runs, task, 'pare', 'orca')} |")
    lines += ["", "## Runtime", "", meta["runtime"], "", "## Setup", "", meta["setup"], ""]
    return "\n".join(lines)


def plot(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pare_runs = {}
    for r in results:
        if r.method == "pare":
            pare_runs.setdefault(r.task, []).append(r)
    names = list(pare_runs)
    fig, axes = plt.subplots(2, len(names), figsize=(3.2 * len(names), 5.6), squeeze=False)
    for col, name in enumerate(names):
        top, bottom = axes[0, col], axes[1, col]
        for run in pare_runs[name]:
            top.plot([h.epoch for h in run.history], [h.lam for h in run.history], marker=".", alpha=0.8,
                     label=f"seed {run.seed}")
        top.set_title(name)
        top.set_ylim(0, 1)
        top.set_xlabel("epoch")
        run = pare_runs[name][0]
        epochs = [h.epoch for h in run.history]
        for key, colour in (("gate_target", "tab:blue"), ("gate_source", "tab:orange")):
            q = np.array([getattr(h, key) for h in run.history])
            bottom.fill_between(epochs, q[:, 0], q[:, 4], color=colour, alpha=0.15)
            bottom.fill_between(epochs, q[:, 1], q[:, 3], color=colour, alpha=0.35)
            bottom.plot(epochs, q[:, 2], color=colour, label=key.replace("gate_", ""))
        gumbel_end = sum(h.gumbel for h in run.history)
        bottom.axvline(gumbel_end - 0.5, color="grey", ls=":", lw=1)
        bottom.set_ylim(0, 1)
        bottom.set_xlabel("epoch")
    axes[0, 0].set_ylabel("λ = k / N (replaced fraction)")
    axes[1, 0].set_ylabel("gate score (median, 25–75 %, 5–95 %)")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle("PaRe: replacement schedule λ and gate score distributions (seed of the first run; "
                 "dotted line: end of Gumbel top-k)", fontsize=9)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--body", default="embedded", help="'embedded', an open_clip name/folder, or 'tiny-random'")
    parser.add_argument("--tune", action="store_true", help="choose learning rates on validation data first")
    parser.add_argument("--epochs", type=int, default=None, help="override every task's epochs (smoke runs)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--report", action="store_true", help="only rewrite pare.md and the plot from saved runs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.report:
        report(out)
        return
    started = time.perf_counter()
    tick = time.perf_counter()
    body = load_body(args.body)
    body_seconds = time.perf_counter() - tick
    source = world_source(count=1000, image_size=int(body.image_size[0]), seed=0)
    tasks, data_seconds = build_tasks(args.tasks)
    for name, task in tasks.items():
        print(f"{task!r}: built in {data_seconds[name]:.1f}s", flush=True)
    tuning_seconds = 0.0
    if args.tune:
        tick = time.perf_counter()
        lrs = tune(args, tasks, body, source)
        tuning_seconds = time.perf_counter() - tick
    else:
        stored = out / "pare.hparams.json"
        lrs = json.loads(stored.read_text())["lr"] if stored.is_file() else {}
    results, rows = [], []
    bench_tick = time.perf_counter()
    load_before = os.getloadavg()[0]
    runs = [(name, seed, method) for name in tasks for seed in args.seeds for method in args.methods]
    for name, seed, method in tqdm(runs, desc="benchmark runs"):
        lr = lrs.get(name, {}).get(method, TrainConfig.lr)
        _, result = fit(tasks[name], method, config_for(name, lr, args.epochs), body=body, source=source, seed=seed,
                        progress=False)
        results.append(result)
        rows.append(result.as_row())
        tqdm.write(f"{name:10s} {method:8s} seed {seed}: {result.metric} {result.test:.4f} "
                   f"(val {result.val:.4f}, epoch {result.best_epoch}, {result.runtime_s:.1f}s)")
    bench_seconds = time.perf_counter() - bench_tick
    total_seconds = time.perf_counter() - started
    csv = "task,method,seed,metric,value\n" + "".join(
        f"{r['task']},{r['method']},{r['seed']},{r['metric']},{r['value']:.6g}\n" for r in rows)
    atomic_write_text(out / "pare.csv", csv)
    atomic_write_json(out / "pare.runs.json", [asdict(r) for r in results])
    per_method = {m: np.mean([r.runtime_s for r in results if r.method == m]) for m in args.methods}
    threads = torch.get_num_threads()
    runtime = (
        f"{len(results)} runs in {bench_seconds / 60:.1f} min; whole script {total_seconds / 60:.1f} min "
        f"(body load {body_seconds:.0f} s, data {sum(data_seconds.values()):.0f} s"
        + (f", learning-rate tuning {tuning_seconds / 60:.1f} min" if args.tune else "")
        + f") on {os.cpu_count()} CPU cores, {threads} torch threads, {platform.processor() or platform.machine()}; "
        f"1-minute load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the runs (other "
        "jobs sharing the cores slow every run down).\n\n"
        "Mean seconds per run: " + ", ".join(f"{m} {s:.1f}" for m, s in per_method.items()) + "."
    )
    lr_text = "; ".join(f"{t}: " + ", ".join(f"{m} {lrs.get(t, {}).get(m, TrainConfig.lr):g}" for m in args.methods)
                        for t in tasks)
    first = results[0].config
    setup = (
        f"Body: `{args.body}` ({type(body).__name__}, width {body.conv1.out_channels}, patch {body.patch_size}, "
        f"{len(body.transformer.resblocks)} blocks). Source: 1,000 world images labelled by shape (6 classes). "
        f"Seeds {args.seeds}; data splits are fixed, seeds change initialisation, batches and source draws.\n\n"
        "Epochs/batch size per task: " + ", ".join(
            f"{t} {cfg['epochs']}/{cfg['batch_size']}" for t, cfg in
            ((t, next(r.config for r in results if r.task == tasks[t].name)) for t in tasks)) + ". "
        f"AdamW (weight decay {first['weight_decay']}), {first['warmup_frac']:.0%} linear warm-up then linear decay, "
        f"gradient clip {first['clip_grad']}. Learning rate per task and method chosen on the validation split from "
        f"{list(LR_GRID)} (seed {TUNING_SEED}, not a benchmark seed): {lr_text}. The test metric is read at the epoch "
        "with the best validation metric. ORCA: OTDD-lite alignment of the embedder, "
        f"{first['orca_steps']} steps, lr {first['orca_lr']:g}. PaRe: (begin, end) as fractions of the target's tokens "
        "from the authors' configs, Gumbel top-k for the first ~1/6 of epochs, c = 1 for classification, 0.3 dense."
    )
    summary = (f"Methods {', '.join(args.methods)} on tasks {', '.join(tasks)}, seeds {args.seeds}. "
               "Raw runs: `pare.csv`; histories: `pare.runs.json`; plot: `pare_lambda_gate.png`.")
    atomic_write_json(out / "pare.meta.json", {"summary": summary, "runtime": runtime, "setup": setup,
                                               "tasks": [tasks[t].name for t in tasks], "methods": args.methods})
    report(out)


def _namespace(value):
    """JSON of a run as attribute-access objects (what :func:`plot` reads from a live result)."""
    if isinstance(value, dict):
        return SimpleNamespace(**{k: _namespace(v) for k, v in value.items()})
    return [_namespace(v) for v in value] if isinstance(value, list) else value


def report(out: Path) -> None:
    """Write ``pare.md`` and the λ / gate plot from the saved runs (``--report`` redoes just this)."""
    meta = json.loads((out / "pare.meta.json").read_text())
    runs = json.loads((out / "pare.runs.json").read_text())
    rows = [{"task": r["task"], "method": r["method"], "value": r["test"], "metric": r["metric"]} for r in runs]
    atomic_write_text(out / "pare.md", write_table(rows, meta["tasks"], meta["methods"], meta))
    if "pare" in meta["methods"]:
        plot([_namespace(r) for r in runs], out / "pare_lambda_gate.png")
    print((out / "pare.md").read_text())


if __name__ == "__main__":
    main()
