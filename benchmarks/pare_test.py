"""PaRe's pre-registered test (design and rule: ``benchmarks/results/pare_preregistration.md``).

    python -m benchmarks.pare_test            # steering check, tuning (seed 100), 20 paired seeds x 4 arms, verdict
    python -m benchmarks.pare_test --report   # rewrite the results file from the saved runs
    python -m benchmarks.pare_test --shard 0/2 & python -m benchmarks.pare_test --shard 1/2   # two processes

Resumable: every run is appended to a JSON-lines log under ``benchmarks/results/`` and skipped when present. The
saved runs must come from the body this process loads (recipe hash and weights checksum); otherwise it refuses.
Writes ``pare_test.md`` (the results: intervals, checks, body, verdict), ``pare_test.json`` (the same as data for
notebook 05), ``pare_test.runs.jsonl``, ``pare_test.tuning.jsonl`` and ``pare_test.steering.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from mmft_kit.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl
from mmft_kit.pare import (MECHANISM, PareConfig, body_record, check_one_body, fit, get_target_task,
                           informative_share, load_body, mechanism_task_of, source_image_size, world_source)
from mmft_kit.pare.verdict import BOUND, as_dict, decide, paired_interval
from mmft_kit.records import RunResult

RESULTS = Path(__file__).resolve().parent / "results"
#: The registered design (change nothing here without a new pre-registration).
BODY = "embedded"
TASK = ("spherical", dict(world_task="glyphs", per_class=(30, 20, 100)))
COMMON = dict(epochs=30, batch_size=32, select="best_val", source_label="colour", source_tokens="target")
#: The pare arm's gate: the relaxed signal, Gumbel on the gate's logits for the first third, then deterministic top-k.
STEERED = dict(gate_signal="relaxed", gumbel_input="logit", gumbel_frac=1 / 3, gate_lr_scale=10.0)
#: Arm label → (method, settings on top of COMMON and the tuned ones).
ARMS = {"finetune": ("finetune", {}), "pare": ("pare", STEERED), "pare_uniform": ("pare_uniform", STEERED),
        "pare_position": ("pare", dict(STEERED, placement="position"))}
#: The arms the decision rule reads; the others (secondary) run after all of them, seed by seed.
PRIMARY = ("finetune", "pare", "pare_uniform")
SEEDS = tuple(range(20))
TUNING_SEED = 100
#: Learning rates in half-decade steps; fine-tuning's grid starts at FT_START and grows by one step past an edge.
LADDER = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
FT_START = (1e-4, 3e-4, 1e-3, 3e-3)
MIX_GRID = (0.1, 0.3, 1.0)
#: The steering check: the mechanism preset's relaxed gate with the arm's selection input, on held-out seeds.
STEERING_SEEDS = (21, 22, 23, 24, 25)
#: Checks that must hold before the result counts.
MIN_SOURCE_ACC, MAX_INFORMATIVE_SHARE = 0.5, 0.15


def _config(arm: str, seed: int, tuned: dict) -> PareConfig:
    method, settings = ARMS[arm]
    return PareConfig(method=method, body=BODY, task=TASK[0], seed=seed, progress=False, **COMMON, **tuned,
                      **settings)


def steering(out: Path, body, record: dict) -> list[float]:
    """The steering check on each held-out mechanism seed: informative share of the gate's deterministic choice."""
    path = out / "pare_test.steering.jsonl"
    done = {row["seed"]: row for row in read_jsonl(path)}
    check_one_body(done.values(), record)
    source = world_source(count=1000, image_size=int(body.image_size[0]), seed=0)
    for seed in STEERING_SEEDS:
        if seed not in done:
            task = mechanism_task_of(seed=seed)
            config = MECHANISM.config("relaxed", seed=seed, progress=False, gumbel_input="logit", body=BODY)
            run = fit(task, config, body=body, source=source)
            done[seed] = {"seed": seed, "share": informative_share(run, source),
                          "auroc": run.history[-1].extra["gate_auroc"], "extra": {"body": run.extra["body"]}}
            append_jsonl(path, done[seed])
            print(f"steering seed {seed}: informative share {done[seed]['share']:.3f}, "
                  f"AUROC {done[seed]['auroc']:.3f}", flush=True)
    return [done[s]["share"] for s in STEERING_SEEDS]


def tune(out: Path, task, body, source, record: dict) -> dict:
    """Settings chosen on validation data of the tuning seed: fine-tuning's lr, then PaRe's lr x mixing weight."""
    path = out / "pare_test.tuning.jsonl"
    done = {(r["arm"], json.dumps(r["tuned"], sort_keys=True)): r for r in read_jsonl(path)}
    check_one_body(done.values(), record)

    def val(arm: str, tuned: dict) -> float:
        key = (arm, json.dumps(tuned, sort_keys=True))
        if key not in done:
            run = fit(task, _config(arm, TUNING_SEED, tuned), body=body, source=source)
            done[key] = {"arm": arm, "tuned": tuned, "val": run.val, "best_epoch": run.best_epoch,
                         "seconds": run.seconds, "extra": {"body": run.extra["body"]}}
            append_jsonl(path, done[key])
            print(f"tune {arm} {tuned}: val {run.val:.4f} (best epoch {run.best_epoch}, {run.seconds:.0f}s)",
                  flush=True)
        return done[key]["val"]

    grid = list(FT_START)
    for _ in range(2):  # grow the grid by one ladder step past an edge that wins, at most twice
        scores = [val("finetune", {"lr": lr}) for lr in grid]
        best = grid[scores.index(min(scores))]
        step = LADDER.index(best)
        if best == grid[0] and step > 0:
            grid.insert(0, LADDER[step - 1])
        elif best == grid[-1] and step < len(LADDER) - 1:
            grid.append(LADDER[step + 1])
        else:
            break
    scores = [val("finetune", {"lr": lr}) for lr in grid]
    lr = grid[scores.index(min(scores))]
    step = LADDER.index(lr)
    pare_grid = [{"lr": rate, "mix_weight": mix} for rate in LADDER[max(step - 1, 0): step + 2] for mix in MIX_GRID]
    scores = [val("pare", tuned) for tuned in pare_grid]
    chosen = pare_grid[scores.index(min(scores))]
    return {"finetune": {"lr": lr}, "pare": chosen, "pare_uniform": chosen, "pare_position": chosen,
            "finetune_grid": grid, "pare_grid": pare_grid}


def arms(out: Path, task, body, source, tuned: dict, record: dict, shard: tuple[int, int] = (0, 1)) -> list[dict]:
    """Every arm on every seed with the tuned settings (resumes from ``pare_test.runs.jsonl``); with ``shard``
    ``(i, n)`` only the seeds ``s`` with ``s % n == i`` (processes sharing the work)."""
    path = out / "pare_test.runs.jsonl"
    done = {(r["extra"]["arm"], r["seed"]): r for r in read_jsonl(path)}
    check_one_body(done.values(), record)
    seeds = [seed for seed in SEEDS if seed % shard[1] == shard[0]]
    order = [(arm, seed) for seed in seeds for arm in PRIMARY] + \
        [(arm, seed) for arm in ARMS if arm not in PRIMARY for seed in seeds]
    for arm, seed in order:
        if (arm, seed) not in done:
            run = fit(task, _config(arm, seed, tuned[arm]), body=body, source=source)
            run.extra["arm"] = arm
            done[(arm, seed)] = run.to_dict()
            append_jsonl(path, done[(arm, seed)])
            print(f"{arm:14s} seed {seed:2d}: test {run.test:.4f} val {run.val:.4f} best epoch {run.best_epoch} "
                  f"source acc mid {run.extra['checks']['source_acc_mixed_mid']} ({run.seconds:.0f}s)", flush=True)
    return list({(r["extra"]["arm"], r["seed"]): r for r in read_jsonl(path)}.values())


def summary(rows: list[dict], shares: list[float], tuned: dict) -> dict:
    """Intervals, checks and the verdict from the saved runs."""
    runs = [RunResult.from_dict({**row, "method": row["extra"]["arm"]}) for row in rows]
    by_arm = {arm: [r for r in runs if r.method == arm] for arm in ARMS}
    intervals = {f"{a} − {b}": paired_interval(runs, a, b)
                 for a, b in (("pare", "finetune"), ("pare", "pare_uniform"), ("pare_position", "finetune"))}
    mid = {arm: [r.extra["checks"]["source_acc_mixed_mid"] for r in by_arm[arm]] for arm in ARMS if arm != "finetune"}
    epochs = COMMON["epochs"]
    ft_best = [r.best_epoch for r in by_arm["finetune"]]
    checks = {
        "source_acc_mixed_mid (pare, mean over seeds)": statistics.fmean(mid["pare"]) if mid["pare"] else None,
        "finetune best epoch (median over seeds)": statistics.median(ft_best) if ft_best else None,
        "steering: informative share (mean over held-out mechanism seeds)": statistics.fmean(shares),
    }
    holds = {
        "source head learns on mixed inputs (>= 0.5)": bool(mid["pare"]) and statistics.fmean(mid["pare"]) >= MIN_SOURCE_ACC,
        f"finetune's best epoch before the last fifth (< {epochs - epochs // 5})":
            bool(ft_best) and statistics.median(ft_best) < epochs - epochs // 5,
        f"the gate steers (share <= {MAX_INFORMATIVE_SHARE})": statistics.fmean(shares) <= MAX_INFORMATIVE_SHARE,
    }
    complete = all(len(by_arm[arm]) == len(SEEDS) for arm in PRIMARY)
    verdict = decide(intervals["pare − finetune"], intervals["pare − pare_uniform"], holds) \
        if complete else f"incomplete: {sum(len(by_arm[a]) for a in PRIMARY)} of {len(SEEDS) * len(PRIMARY)} " \
                         "runs of the primary arms"
    per_arm = {arm: {"test_mean": statistics.fmean(r.test for r in rs) if rs else None, "seeds": len(rs),
                     "best_epochs": [r.best_epoch for r in rs],
                     "source_acc_mixed_mid": mid.get(arm)} for arm, rs in by_arm.items()}
    return {"verdict": verdict, "intervals": {k: as_dict(v) for k, v in intervals.items()}, "checks": checks,
            "checks_hold": holds, "steering_shares": shares, "per_arm": per_arm, "tuned": tuned, "bound": BOUND}


def write_report(out: Path, result: dict, body: dict, meta: dict) -> str:
    lines = ["# PaRe: the pre-registered test — results", "",
             "Design and rule: [`pare_preregistration.md`](pare_preregistration.md). Command: "
             "`python -m benchmarks.pare_test`.", "",
             f"**Verdict (by the registered rule):** {result['verdict']}.", "",
             f"Body: `{body['body']}`, recipe hash `{body['recipe_hash']}`, weights checksum "
             f"`{body['weights_sha256']}`.", "",
             "## Paired 95 % intervals (test 1 − accuracy at the best-validation epoch; negative: first arm better)",
             "", "| difference | mean | 95 % interval | s.d. of differences | seeds |", "| --- | --- | --- | --- | --- |"]
    for name, i in result["intervals"].items():
        lines.append(f"| {name} | {i['mean']:+.4f} | [{i['low']:+.4f}, {i['high']:+.4f}] | {i['sd']:.4f} | {i['n']} |")
    lines += ["", "## Manipulation checks (all must hold for the result to count)", "",
              "| check | measured | holds |", "| --- | --- | --- |"]
    for (name, value), (rule, ok) in zip(result["checks"].items(), result["checks_hold"].items()):
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        lines.append(f"| {rule} | {name}: {shown} | {'yes' if ok else 'NO'} |")
    lines += ["", f"Steering shares per held-out mechanism seed {list(STEERING_SEEDS)}: "
              + ", ".join(f"{s:.3f}" for s in result["steering_shares"]) + " (uniform: 0.25).", "",
              "## Per arm", "", "| arm | mean test | seeds | mean source-head accuracy on mixed inputs, mid-run |"
              " best epochs |", "| --- | --- | --- | --- | --- |"]
    for arm, a in result["per_arm"].items():
        acc = f"{statistics.fmean(a['source_acc_mixed_mid']):.3f}" if a["source_acc_mixed_mid"] else "–"
        mean = f"{a['test_mean']:.4f}" if a["test_mean"] is not None else "–"
        lines.append(f"| {arm} | {mean} | {a['seeds']} | {acc} | {a['best_epochs']} |")
    lines += ["", "## Settings chosen on validation (tuning seed only)", "", "```",
              json.dumps(result["tuned"], indent=1), "```", "", "## Runtime", "", meta.get("runtime", ""), ""]
    text = "\n".join(lines)
    atomic_write_text(out / "pare_test.md", text)
    atomic_write_json(out / "pare_test.json", {**result, "body": body, **meta})
    return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--report", action="store_true", help="only rewrite the results from the saved runs")
    parser.add_argument("--shard", default="0/1", help="i/n: run only the seeds s with s %% n == i (after tuning)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    started = time.perf_counter()
    body = load_body(BODY)
    record = body_record(body)
    task = get_target_task(TASK[0], **TASK[1])
    source = world_source(count=1000, label=COMMON["source_label"], image_size=source_image_size(task, body), seed=0)
    load_before = os.getloadavg()[0]
    shares = steering(args.out, body, record) if not args.report else \
        [r["share"] for r in read_jsonl(args.out / "pare_test.steering.jsonl")]
    tuned = tune(args.out, task, body, source, record) if not args.report else \
        json.loads((args.out / "pare_test.json").read_text())["tuned"]
    shard = tuple(int(part) for part in args.shard.split("/"))
    rows = arms(args.out, task, body, source, tuned, record, shard) if not args.report else \
        read_jsonl(args.out / "pare_test.runs.jsonl")
    check_one_body(rows, record)
    seconds = sum(r["seconds"] for r in rows) + sum(r["seconds"] for r in read_jsonl(args.out / "pare_test.tuning.jsonl"))
    meta = {"runtime": f"This invocation {(time.perf_counter() - started) / 60:.1f} min wall; the runs' own times sum "
                       f"to {seconds / 60:.1f} min (tuning and arms; the steering check aside) on {os.cpu_count()} "
                       f"CPU cores, 1 torch thread, {platform.processor() or platform.machine()}; 1-minute load "
                       f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after (cores shared with other jobs)."}
    if args.report and (args.out / "pare_test.json").is_file():
        meta = {"runtime": json.loads((args.out / "pare_test.json").read_text()).get("runtime", "")}
    print(write_report(args.out, summary(rows, shares, tuned), record, meta))


if __name__ == "__main__":
    main()
