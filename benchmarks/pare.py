"""PaRe against its baselines and controls, and what its gate learns.

    python -m benchmarks.pare            # the full run (tuning on validation, then 10 seeds per task)
    python -m benchmarks.pare --quick    # a smoke run of a few minutes (results under benchmarks/results/quick/)
    python -m benchmarks.pare --report   # rewrite the tables and plots from the saved runs

Two parts:

1. **Mechanism** (``mechanism`` task: 4 of 16 features carry the label): PaRe with the authors' gate
   rule, with the relaxed signal, and with a frozen random gate; the AUROC of the final gate scores
   for "informative vs noise token" and the share of informative tokens among the slots the trained gate
   replaces by deterministic selection (k = 4; uniform: 0.25) per seed → ``pare_mechanism.csv``
   (``variant,seed,auroc,informative_share``).
2. **Tasks where pretraining transfers** (Darcy flow, spherical images): ``scratch``, ``finetune``,
   ``pare``, ``pare_random_gate`` and ``pare_uniform`` over ≥ 10 seeds. Each method's settings are chosen on the
   validation split of a tuning seed (not a benchmark seed) from a grid: learning rate for the
   baselines; mixing weight × gate option for PaRe; the random-gate control takes PaRe's choice.
   Test data are read once per run, at the epoch of best validation metric. A seed fixes
   initialisation, batch order and (separately) source draws and Gumbel noise, so all methods see
   the same batches and differences are paired by seed. Every run records its manipulation checks
   (best epoch, source-head accuracy on mixed inputs) and its body (recipe hash, weights checksum); the
   script refuses to add runs of one body to saved runs of another.

Writes under ``benchmarks/results/``: ``pare.md`` (headline), ``pare.csv`` (one row per run),
``pare.runs.jsonl`` (every run with its history; the run resumes from it), ``pare.tuning.jsonl``,
``pare.hparams.json``, ``pare_mechanism.csv``, ``pare_mechanism.png``, ``pare_gate.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from mmft_kit.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from mmft_kit.pare import (PareConfig, body_record, check_one_body, fit, get_target_task, informative_share,
                           load_body, resolve_config, world_source)
from mmft_kit.pare.mechanism import MECHANISM
from mmft_kit.params import SeedsParams, add_arguments, read_arguments
from mmft_kit.pare.config import PareTaskParams
from mmft_kit.records import RunResult
from mmft_kit.report import save_figure
from mmft_kit.sweep import paired_difference, summarise, sweep

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("scratch", "finetune", "pare", "pare_random_gate", "pare_uniform")
#: Task builders' arguments and training settings, fixed beforehand for the CPU budget (not tuned). 30 epochs so
#: that the best validation epoch need not be the last (at 8 epochs every darcy run picked its last).
TASKS = {
    "darcy": (dict(n_train=200, n_val=100, n_test=200, progress=False), dict(epochs=30, batch_size=32)),
    "spherical": (dict(per_class=(30, 20, 40)), dict(epochs=30, batch_size=32)),
}
#: Gate options: the authors' (gate trained in the first sixth of epochs, Gumbel on sigmoid scores) and the
#: steered relaxed signal (Gumbel on the gate's logits for the first third, ten times the learning rate, then
#: deterministic top-k by the trained gate).
GATE_OPTIONS = {
    "authors": dict(gate_signal="authors"),
    "relaxed": dict(gate_signal="relaxed", gumbel_input="logit", gumbel_frac=1 / 3, gate_lr_scale=10.0),
}
LR_GRID = (3e-4, 1e-3)
#: Options declared by the kit's models, with this benchmark's defaults (and --quick's).
OPTIONS = ((SeedsParams, ("seeds",)), (PareTaskParams, ("body",)))
DEFAULTS, QUICK = {"seeds": list(range(10)), "body": "embedded:ci"}, {"seeds": [0, 1]}
MIX_SCALES = (1.0, 1 / 3)  # times the authors' mixing weight for the task kind
TUNING_SEED = 100


def _run(task, method, overrides, body, source, seed) -> RunResult:
    return fit(task, PareConfig(method=method, seed=seed, progress=False, **overrides), body=body, source=source)


def mechanism(args, body, source) -> list[dict]:
    """Part 1: final gate AUROC per variant and seed."""
    path = args.out / "pare_mechanism.runs.jsonl"
    done = {(r["extra"]["variant"], r["seed"]): r for r in read_jsonl(path)}
    check_one_body(done.values(), args.body_record)
    task = get_target_task("mechanism", **MECHANISM.task)
    quick = dict(epochs=2) if args.quick else {}
    rows = []
    for seed in args.mechanism_seeds:
        for variant in MECHANISM.variants:
            if (variant, seed) not in done:
                result = fit(task, MECHANISM.config(variant, seed=seed, progress=False, **quick), body=body,
                             source=source)
                result.extra["variant"] = variant
                result.extra["informative_share"] = informative_share(result, source)
                done[(variant, seed)] = result.to_dict()
                append_jsonl(path, result.to_dict())
                print(f"mechanism {variant:12s} seed {seed}: gate AUROC "
                      f"{result.history[-1].extra['gate_auroc']:.3f} ({result.seconds:.0f}s)", flush=True)
            rows.append({"variant": variant, "seed": seed,
                         "auroc": done[(variant, seed)]["history"][-1]["extra"]["gate_auroc"],
                         "informative_share": done[(variant, seed)]["extra"]["informative_share"]})
    atomic_write_text(args.out / "pare_mechanism.csv", "variant,seed,auroc,informative_share\n" + "".join(
        f"{r['variant']},{r['seed']},{r['auroc']:.4f},{r['informative_share']:.4f}\n" for r in rows))
    return rows


def tuning_grid(task) -> dict[str, list[dict]]:
    """Per method, the candidate overrides (on top of the task's settings); PaRe's are filled in after
    fine-tuning's learning rate is chosen."""
    base_mix = resolve_config(task, PareConfig()).mix_weight
    pare = [dict(mix_weight=base_mix * scale, **gate) for scale in MIX_SCALES for gate in GATE_OPTIONS.values()]
    return {"scratch": [dict(lr=lr) for lr in LR_GRID], "finetune": [dict(lr=lr) for lr in LR_GRID], "pare": pare}


def tune(args, name, task, settings, body, source) -> dict[str, dict]:
    """Each method's overrides chosen on validation data (tuning seed); resumes from ``pare.tuning.jsonl``."""
    path = args.out / "pare.tuning.jsonl"
    done = {(r["task"], r["method"], json.dumps(r["overrides"], sort_keys=True)): r for r in read_jsonl(path)}
    check_one_body(done.values(), args.body_record)
    chosen: dict[str, dict] = {}

    def best(method, candidates):
        scores = []
        for overrides in candidates:
            key = (name, method, json.dumps(overrides, sort_keys=True))
            if key not in done:
                result = _run(task, method, {**settings, **overrides}, body, source, TUNING_SEED)
                done[key] = {"task": name, "method": method, "overrides": overrides, "val": result.val,
                             "seconds": result.seconds, "extra": {"body": result.extra["body"]}}
                append_jsonl(path, done[key])
                print(f"tune {name:10s} {method:8s} {overrides}: val {result.val:.4f} ({result.seconds:.0f}s)",
                      flush=True)
            scores.append((done[key]["val"], overrides))
        return min(scores, key=lambda s: s[0])[1]

    grid = tuning_grid(task)
    chosen["scratch"] = best("scratch", grid["scratch"])
    chosen["finetune"] = best("finetune", grid["finetune"])
    chosen["pare"] = best("pare", [dict(lr=chosen["finetune"]["lr"], **g) for g in grid["pare"]])
    chosen["pare_random_gate"] = chosen["pare_uniform"] = chosen["pare"]
    return chosen


def benchmark(args, body, source) -> dict[str, list[RunResult]]:
    """Part 2: every method × seed on every task, with the validated settings; resumes from ``pare.runs.jsonl``."""
    path = args.out / "pare.runs.jsonl"
    check_one_body(read_jsonl(path), args.body_record)
    saved = [RunResult.from_dict(r) for r in read_jsonl(path)]
    hparams, results = {}, {}
    for name in args.tasks:
        task_kwargs, settings = TASKS[name]
        if args.quick:
            settings = dict(settings, epochs=2)
        task = get_target_task(name, **task_kwargs)
        chosen = tune(args, name, task, settings, body, source)
        hparams[name] = chosen

        def run_one(method, seed, task=task, settings=settings, chosen=chosen):
            for row in read_jsonl(path):  # another process working on this task may have made it meanwhile
                if (row["extra"]["task"], row["method"], row["seed"]) == (task.name, method, seed):
                    return RunResult.from_dict(row)
            return _run(task, method, {**settings, **chosen[method]}, body, source, seed)

        def save(result, name=name):
            if any((r["extra"]["task"], r["method"], r["seed"]) == (result.extra["task"], result.method, result.seed)
                   for r in read_jsonl(path)):
                return
            append_jsonl(path, result.to_dict())
            print(f"{name:10s} {result.method:16s} seed {result.seed}: {result.metric} {result.test:.4f} "
                  f"(val {result.val:.4f}, {result.seconds:.0f}s)", flush=True)

        done = [r for r in saved if r.extra.get("task") == task.name]
        results[name] = sweep(run_one, METHODS, args.seeds, done=done, on_result=save, progress=False)
    stored = args.out / "pare.hparams.json"
    if stored.is_file():  # keep what runs of other tasks chose
        hparams = {**json.loads(stored.read_text())["chosen"], **hparams}
    atomic_write_json(stored, {"chosen": hparams, "lr_grid": list(LR_GRID),
                                                       "mix_scales": list(MIX_SCALES), "gate_options": GATE_OPTIONS,
                                                       "tuning_seed": TUNING_SEED})
    return results


def _fmt(diff: tuple[float, float, int]) -> str:
    mean, se, n = diff
    if n < 2:
        return f"{mean:+.4f} (n={n}; too few seeds)"
    verdict = "within 2 s.e." if abs(mean) <= 2 * se else ("lower" if mean < 0 else "higher")
    return f"{mean:+.4f} ± {se:.4f} (n={n}; {verdict})"


def _beats(diff: tuple[float, float, int]) -> bool:
    """A paired difference below zero by more than 2 standard errors (lower metric is better)."""
    mean, se, n = diff
    return n >= 2 and mean < -2 * se


def _mid_source_accuracy(run: RunResult) -> str:
    """The run's source-head accuracy on mixed inputs at mid-run, or empty (not mixing, or a run without checks)."""
    value = run.extra.get("checks", {}).get("source_acc_mixed_mid")
    return "" if value is None else f"{value:.4f}"


def report(out: Path, meta: dict | None = None) -> str:
    """``pare.md``, ``pare.csv`` and the plots from the saved runs."""
    from mmft_kit.chance import auroc_chance_band
    from mmft_kit.viz import gate_diagnostics, mechanism_auroc, score_maps

    meta = meta or (json.loads((out / "pare.meta.json").read_text()) if (out / "pare.meta.json").is_file() else {})
    unique = {(r["extra"]["task"], r["method"], r["seed"]): r for r in reversed(read_jsonl(out / "pare.runs.jsonl"))}
    runs = sorted((RunResult.from_dict(r) for r in unique.values()), key=lambda r: (r.extra["task"], r.seed))
    check_one_body(unique.values())
    csv = (out / "pare_mechanism.csv").read_text().splitlines() if (out / "pare_mechanism.csv").is_file() else []
    mech_rows = [dict(zip(csv[0].split(","), line.split(","))) for line in csv[1:]]
    for row in mech_rows:
        row["auroc"], row["seed"] = float(row["auroc"]), int(row["seed"])
        row["informative_share"] = float(row.get("informative_share", "nan"))
    lines = ["# PaRe benchmark", "", meta.get("summary", ""), ""]
    if mech_rows:
        lines += ["## What the gate learns (mechanism task: 4 of 16 features carry the label)", "",
                  "| variant | gate AUROC, mean ± s.e. | informative share of replaced slots (k = 4), mean | seeds |",
                  "| --- | --- | --- | --- |"]
        for variant in dict.fromkeys(r["variant"] for r in mech_rows):
            values = [r["auroc"] for r in mech_rows if r["variant"] == variant]
            mean = sum(values) / len(values)
            se = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 / len(values) ** 0.5 \
                if len(values) > 1 else 0.0
            share = [r["informative_share"] for r in mech_rows if r["variant"] == variant]
            lines.append(f"| {variant} | {mean:.3f} ± {se:.3f} | {sum(share) / len(share):.3f} | {len(values)} |")
        lines += ["", "AUROC of the final gate scores for informative vs noise tokens (0.5: chance). Both gate "
                  "signals train the gate for the whole run at 10× the learning rate; `random_gate` is frozen.", ""]
        task = get_target_task("mechanism", **MECHANISM.task)
        informative = len(task.extra["informative"])  # chance: a random ranking of the token positions
        chance = auroc_chance_band(informative, task.x_train.shape[1] - informative)
        save_figure(mechanism_auroc(mech_rows, auroc_chance=chance), out / "pare_mechanism.png")
    tasks = list(dict.fromkeys(r.extra["task"] for r in runs))
    if runs:
        lines += ["## Tasks: paired differences (lower metric is better; negative = first method better)", "",
                  "| task | metric | finetune − scratch | pare − finetune | pare − pare_random_gate | pare − pare_uniform |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for task in tasks:
            group = [r for r in runs if r.extra["task"] == task]
            cells = [_fmt(paired_difference(group, a, b)) for a, b in
                     (("finetune", "scratch"), ("pare", "finetune"), ("pare", "pare_random_gate"),
                      ("pare", "pare_uniform"))]
            lines.append(f"| {task} | {group[0].metric} | " + " | ".join(cells) + " |")
        transfer = [t for t in tasks if _beats(paired_difference([r for r in runs if r.extra["task"] == t],
                                                                  "finetune", "scratch"))]
        wins = [t for t in transfer if _beats(paired_difference([r for r in runs if r.extra["task"] == t],
                                                                "pare", "finetune"))]
        lines += ["", f"Fine-tuning beats scratch beyond 2 paired s.e. on: {', '.join(transfer) or 'none'}. "
                  f"PaRe beats fine-tuning beyond 2 paired s.e. on: {', '.join(wins) or 'none'}."]
        lines += ["", "Mean ± s.e. of the paired (same seed) difference of test metrics over n seeds.", "",
                  "| task | " + " | ".join(METHODS) + " |", "|" + " --- |" * (len(METHODS) + 1)]
        for task in tasks:
            stats = summarise([r for r in runs if r.extra["task"] == task])
            lines.append(f"| {task} | " + " | ".join(
                f"{stats[m][0]:.4f} ± {stats[m][1]:.4f}" if m in stats else "–" for m in METHODS) + " |")
        pare_runs = {f"{r.extra['task']} {r.method}": r for r in runs if r.method.startswith("pare") and r.seed == 0}
        if pare_runs:
            save_figure(gate_diagnostics(pare_runs), out / "pare_gate.png")
        atomic_write_text(out / "pare.csv", "task,method,seed,metric,test,val,best_epoch,source_acc_mixed_mid,seconds\n"
                          + "".join(f"{r.extra['task']},{r.method},{r.seed},{r.metric},{r.test:.6g},{r.val:.6g},"
                                    f"{r.best_epoch},{_mid_source_accuracy(r)},{r.seconds:.1f}\n" for r in runs))
    mech_runs = read_jsonl(out / "pare_mechanism.runs.jsonl")
    first = {r["extra"]["variant"]: RunResult.from_dict(r) for r in reversed(mech_runs)}
    if first:
        informative = get_target_task("mechanism", **MECHANISM.task).extra["informative"]
        first = {v: r for v, r in first.items() if r.seed == min(x.seed for x in first.values())}
        save_figure(score_maps(first, informative), out / "pare_mechanism_maps.png")
    if (out / "pare.hparams.json").is_file():
        lines += ["", "## Settings chosen on validation data", "", "```",
                  json.dumps(json.loads((out / "pare.hparams.json").read_text())["chosen"], indent=1), "```"]
    lines += ["", "## Runtime", "", meta.get("runtime", ""), ""]
    text = "\n".join(lines)
    atomic_write_text(out / "pare.md", text)
    return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 epochs, 2 seeds, one task (smoke run)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--reverse-seeds", action="store_true",
                        help="run the seeds last first (a second process on the same task meets the first halfway)")
    parser.add_argument("--mechanism-seeds", type=int, default=5, help="mechanism seeds 0..N-1")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--parts", nargs="+", default=["mechanism", "tasks"], choices=["mechanism", "tasks"],
                        help="which parts to run (separate processes may run separate parts / tasks)")
    parser.add_argument("--report", action="store_true", help="only rewrite tables and plots from saved runs")
    for model, names in OPTIONS:  # declared by the kit's parameter models, with this benchmark's defaults
        add_arguments(parser, model, names, DEFAULTS)
    args = parser.parse_args(argv)
    for model, names in OPTIONS:
        read_arguments(args, model, names, {**DEFAULTS, **(QUICK if args.quick else {})})
    if args.quick:
        args.tasks, args.mechanism_seeds = args.tasks[:1], 2
    args.out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        print(report(args.out))
        return
    args.mechanism_seeds = list(range(args.mechanism_seeds))
    if args.reverse_seeds:
        args.seeds.reverse()
    torch.set_num_threads(1)
    started = time.perf_counter()
    body = load_body(args.body)
    args.body_record = body_record(body)
    source = world_source(count=1000, image_size=int(body.image_size[0]), seed=0)
    load_before = os.getloadavg()[0]
    if "mechanism" in args.parts:
        mechanism(args, body, source)
    mech_seconds = time.perf_counter() - started
    results = benchmark(args, body, source) if "tasks" in args.parts else {}
    total = time.perf_counter() - started
    n_runs = sum(len(v) for v in results.values())
    meta = {
        "summary": f"Body `{args.body}` (recipe hash {args.body_record['recipe_hash']}, weights checksum "
                   f"{args.body_record['weights_sha256']}); source: 1,000 world images labelled by shape, with object masks. Tasks "
                   f"{', '.join(args.tasks)} × methods {', '.join(METHODS)} × seeds {args.seeds}; mechanism seeds "
                   f"{args.mechanism_seeds}." + (" QUICK smoke run: 2 epochs, not a result." if args.quick else ""),
        "runtime": f"Whole script {total / 60:.1f} min (mechanism part {mech_seconds / 60:.1f} min; {n_runs} "
                   f"benchmark runs plus tuning) on {os.cpu_count()} CPU cores, 1 torch thread, "
                   f"{platform.processor() or platform.machine()}; 1-minute load average {load_before:.1f} before "
                   f"and {os.getloadavg()[0]:.1f} after: the cores were shared with other jobs, so every run "
                   "was slower than on an idle machine.",
    }
    atomic_write_json(args.out / "pare.meta.json", meta)
    print(report(args.out, meta))


if __name__ == "__main__":
    main()
