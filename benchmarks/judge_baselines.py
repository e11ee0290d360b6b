"""Frozen-feature baselines against zero-shot, in distribution and on the shifted variants (issue 11).

Prints one row per (task, method): test accuracy and mean shifted accuracy, mean ± s.e. over seeds
(paired draws: the same few-shot images per seed for every method); headline last. Writes
benchmarks/results/judge_baselines.md. Hyperparameters are chosen on validation data by each method's
own search. Example::

    OMP_NUM_THREADS=1 python benchmarks/judge_baselines.py --model embedded:ci --tasks glyphs badges --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from mmft_kit.data import shifted_variants
from mmft_kit.train import FROZEN_METHODS, TrainConfig, run

METHODS = ("zeroshot", *FROZEN_METHODS)


def _mean_se(values: list[float]) -> str:
    v = np.asarray(values) * 100
    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return f"{v.mean():.1f} ± {se:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded:ci")
    parser.add_argument("--tasks", nargs="+", default=["glyphs", "badges"])
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines = ["| task | method | test % | shifted % (mean of variants) |", "|---|---|---|---|"]
    best = {}
    for task in args.tasks:
        shifted = shifted_variants(task)
        for method in args.methods:
            test, shift = [], []
            for seed in args.seeds:
                r = run(TrainConfig(method=method, dataset=task, shots=args.shots, seed=seed, model=args.model,
                                    progress=False, eval_sets=shifted))
                test.append(r.test_accuracy)
                shift.append(float(np.mean(list(r.extra["eval"].values()))))
            line = f"| {task} | {method} | {_mean_se(test)} | {_mean_se(shift)} |"
            print(line, flush=True)
            lines.append(line)
            best.setdefault(task, []).append((np.mean(test), method))
    out = Path(__file__).parent / "results" / "judge_baselines.md"
    out.parent.mkdir(exist_ok=True)
    header = (f"model {args.model}, {args.shots} shots, seeds {args.seeds}; shifted sets: "
              + "; ".join(f"{t}: {', '.join(shifted_variants(t))}" for t in args.tasks))
    out.write_text(header + "\n\n" + "\n".join(lines) + "\n")
    print("headline: best in-distribution baseline per task: "
          + ", ".join(f"{t}: {max(v)[1]} {100 * max(v)[0]:.1f}%" for t, v in best.items()))


if __name__ == "__main__":
    main()
