"""Fine-tuned methods against zero-shot and the frozen-feature baselines, in distribution and shifted (issue 11).

One row per (task, method): test accuracy, mean accuracy on the task's shifted variants
(``mmft_kit.data.shifted_variants``), and for fine-tuned methods the same two at WiSE-FT α = 0.5;
mean ± standard error over seeds (paired: every method sees the same few-shot draw per seed).
Fine-tuned methods use the learning rates (and MMFT's w) chosen on validation data by
``benchmarks/few_shot.py --tune`` (``results/few_shot.hparams.json``) and its fixed budget (10 epochs,
validation every 5, batch 64); the frozen baselines choose their own hyperparameters on validation.
Writes ``results/judge.md`` and ``results/judge.csv``; headline last. Example::

    OMP_NUM_THREADS=1 python benchmarks/judge.py --model embedded:ci --captioner embedded:ci --tasks glyphs badges
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmft_kit.data import shifted_variants  # noqa: E402
from mmft_kit.train import FROZEN_METHODS, TrainConfig, run  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TRAINED = ("mmft", "flyp", "flyp_ens", "ce")
METHODS = ("zeroshot", *TRAINED, *FROZEN_METHODS)
EPOCHS, EVAL_EVERY, BATCH_SIZE = 10, 5, 64
WISE_ALPHA = 0.5


def _mean_se(values: list[float]) -> str:
    v = np.asarray([x for x in values if x is not None], dtype=float) * 100
    if len(v) == 0:
        return ""
    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return f"{v.mean():.1f} ± {se:.1f}"


def _at(curve, alpha):
    return next(acc for a, acc in curve if abs(a - alpha) < 1e-9)


def one_run(args, task: str, method: str, seed: int, hparams: dict) -> dict:
    shifted = shifted_variants(task)
    settings = dict(method=method, dataset=task, shots=args.shots, seed=seed, clip=args.model, progress=False,
                    eval_sets=shifted)
    if method in TRAINED:
        chosen = hparams.get(method, {})
        settings.update(lr=chosen.get("lr", 1e-4), w=chosen.get("w", 0.1), epochs=EPOCHS, eval_every=EVAL_EVERY,
                        batch_size=BATCH_SIZE, wise_ft=args.wise_ft, captioner=args.captioner, make_captions=True)
    r = run(TrainConfig(**settings))
    row = {"task": task, "method": method, "seed": seed, "test": r.test,
           "shifted": float(np.mean(list(r.extra["eval"].values()))), "seconds": r.seconds}
    if r.extra["wise_ft"]:
        row["wise_test"] = _at(r.extra["wise_ft"], WISE_ALPHA)
        row["wise_shifted"] = float(np.mean([_at(c, WISE_ALPHA) for c in r.extra["wise_ft_eval"].values()]))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded:ci")
    parser.add_argument("--captioner", default="embedded:ci", help="the captioner of mmft's captions")
    parser.add_argument("--tasks", nargs="+", default=["glyphs", "badges"])
    parser.add_argument("--shots", type=int, default=16)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--hparams", type=Path, default=RESULTS / "few_shot.hparams.json")
    parser.add_argument("--wise-ft", action="store_true",
                        help=f"also trace WiSE-FT (11 extra evaluations of every set per run) and report α={WISE_ALPHA}")
    parser.add_argument("--name", default="judge", help="results/NAME.md and NAME.csv (default: judge)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    hparams = json.loads(args.hparams.read_text()).get("chosen", {}) if args.hparams.is_file() else {}
    rows = []
    lines = [f"| task | method | test % | shifted % | WiSE-FT α={WISE_ALPHA} test % | WiSE-FT α={WISE_ALPHA} shifted % |",
             "|---|---|---|---|---|---|"]
    for task in args.tasks:
        for method in args.methods:
            done = [one_run(args, task, method, seed, hparams) for seed in args.seeds]
            rows += done
            cells = [_mean_se([d.get(k) for d in done]) for k in ("test", "shifted", "wise_test", "wise_shifted")]
            lines.append(f"| {task} | {method} | " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    columns = ["task", "method", "seed", "test", "shifted", "wise_test", "wise_shifted", "seconds"]
    with (RESULTS / f"{args.name}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    note = (f"CLIP `{args.model}`, mmft captions by `{args.captioner}`, {args.shots} shots, seeds {args.seeds}; "
            f"trained methods: {EPOCHS} epochs, validation every {EVAL_EVERY}, lr (and w) from "
            f"`{args.hparams.name}`; shifted sets: "
            + "; ".join(f"{t}: {', '.join(shifted_variants(t))}" for t in args.tasks)
            + ". Mean ± s.e. over seeds; shifted = mean over the task's variants.")
    (RESULTS / f"{args.name}.md").write_text(note + "\n\n" + "\n".join(lines) + "\n")
    best = {}
    for row in rows:
        best.setdefault((row["task"], row["method"]), []).append(row["test"])
    for task in args.tasks:
        ranked = sorted(((np.mean(v), m) for (t, m), v in best.items() if t == task), reverse=True)
        print(f"headline {task}: " + ", ".join(f"{m} {100 * acc:.1f}%" for acc, m in ranked))


if __name__ == "__main__":
    main()
