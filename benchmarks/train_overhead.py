"""Overhead of the kit's trainer: its steps per second against a bare open_clip training loop.

    python -m benchmarks.train_overhead                 # default embedded CLIP architecture, batch 64
    python -m benchmarks.train_overhead --rounds 8 --threads 2
    python -m benchmarks.train_overhead --device cuda     # with AMP (float16), as the trainer runs on GPUs

Both loops train the same architecture (a random-weight copy each: speed does not depend on the
weights) with the MMFT loss on the same batches (glyphs images with three 50-word captions per
image), in this one process:

* ``kit``: :func:`mmft_kit.train.fine_tune` as :func:`mmft_kit.train.run` calls it (DataLoader,
  per-epoch caption draw, texts tokenised once up front, cosine schedule, logit-scale clamp,
  gradient scaler), without validation or checkpoints;
* ``kit, tokenising every batch``: the same, with the texts tokenised at every step (the trainer
  before pre-tokenisation), for reference;
* ``bare``: forward, loss, ``zero_grad``, backward, fused AdamW step (through a gradient scaler
  under AMP) over the batches the kit's loader yields, collected beforehand (already collated,
  tokenised and on the device).

The loops run interleaved, one round of each after another, so a change in the load of a shared
machine hits all of them, and on the CPU they are timed in this process's CPU seconds, which
waiting for cores other processes hold does not inflate (on a GPU: wall seconds). Interference
only ever slows a loop down, so each loop's speed is its fastest round (as ``timeit`` reports the
best of its repeats) and the ratio is kit/bare of those; the median over rounds of the per-round
ratios is reported beside it.
Achieved FLOP/s are the FLOPs of one step (torch's ``FlopCounterMode``: matmuls and convolutions,
forward and backward) times the steps per second, as a share of the fp32 matmul peak measured
here (best of repeated square matmuls). Writes ``benchmarks/results/train_overhead.json``; the
headline, ``ratio=<kit/bare>``, is printed last.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from mmft_kit.captions import CaptionedDataset
from mmft_kit.data import few_shot, get_dataset
from mmft_kit.embedded.clip import CLIP_RECIPES
from mmft_kit.io import atomic_write_json
from mmft_kit.losses import MMFTLoss
from mmft_kit.params import DeviceParams, FewShotParams, OptimParams, add_arguments, read_arguments
from mmft_kit.params.fields import PAPER_WORDS
from mmft_kit.train import Preprocessed, TrainConfig, fine_tune, loss_function
from mmft_kit.train.data import TokenizedTexts

RESULTS = Path(__file__).resolve().parent / "results"
#: Options declared by the kit's models; this benchmark's defaults (48 shots: 384 images, 6 steps of 64; the CPU).
OPTIONS = ((FewShotParams, ("shots",)), (OptimParams, ("epochs",)), (DeviceParams, ("device",)))
DEFAULTS = {"shots": 48, "epochs": 1, "device": "cpu"}
LR, WEIGHT_DECAY, SEED = 1e-5, 1e-4, 0


def build_model(size: str):
    """A random-weight open_clip CLIP of the embedded recipe ``size``, with its preprocess and tokenizer."""
    import open_clip

    cfg = CLIP_RECIPES[size].model_cfg()
    torch.manual_seed(SEED)
    model = open_clip.model.CLIP(**cfg)
    preprocess = open_clip.image_transform(cfg["vision_cfg"]["image_size"], is_train=False)
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=cfg["text_cfg"]["context_length"])
    return model, preprocess, tokenizer


def synthetic_captions(count: int, seed: int = SEED) -> list[list[str]]:
    """Three distinct ~50-word captions per image, from a fixed vocabulary (tokenising them costs what real ones do)."""
    words = ("shape texture colour stroke curved straight thin thick bold faint edge corner loop line dot "
             "surface grain smooth rough pattern symmetric upper lower left right centre glyph mark").split()
    rng = np.random.default_rng(seed)
    return [[" ".join(rng.choice(words, PAPER_WORDS)) + "." for _ in range(3)] for _ in range(count)]


def training_data(preprocess, shots: int) -> CaptionedDataset:
    """``shots`` glyphs train images per class (transformed once, kept in memory) with synthetic captions."""
    images = few_shot(get_dataset("glyphs"), shots, SEED)
    return CaptionedDataset(Preprocessed(images, preprocess), synthetic_captions(len(images)), seed=SEED)


def step_flops(model, batch, criterion) -> int:
    """FLOPs of one training step (forward and backward) on ``batch``."""
    from torch.utils.flop_counter import FlopCounterMode

    images, tokens, labels = batch
    counter = FlopCounterMode(display=False)
    with counter:
        image_features, text_features, scale = model(images, tokens)[:3]
        criterion(image_features, text_features, scale, labels).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(device: torch.device):
    """The seconds a loop is timed in: this process's CPU time on the CPU (time spent waiting for cores other
    processes hold does not count, which wall time on a shared machine would), wall time on a GPU."""
    return time.process_time if device.type == "cpu" else time.perf_counter


def matmul_peak(device: torch.device, n: int = 1024, repeats: int = 8) -> float:
    """Best fp32 FLOP/s of an ``n × n`` matmul on ``device`` over ``repeats`` tries."""
    n, now = (4 * n if device.type == "cuda" else n), _clock(device)
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        _synchronize(device)
        start = now()
        torch.mm(a, b)
        _synchronize(device)
        best = min(best, now() - start)
    return 2 * n**3 / best


def kit_round(model, data, loss_fn, epochs: int, device: torch.device) -> tuple[int, float]:
    """Steps and seconds of one ``fine_tune`` call."""
    now = _clock(device)
    start = now()
    fine_tune(model, data, loss_fn, None, TrainConfig(epochs=epochs, lr=LR, weight_decay=WEIGHT_DECAY, batch_size=64,
                                                      seed=SEED, device=str(device), amp=True, progress=False))
    _synchronize(device)
    return epochs * -(-len(data) // 64), now() - start


def bare_round(model, optimizer, scaler, criterion, batches, epochs: int, device: torch.device) -> tuple[int, float]:
    """Steps and seconds of ``epochs`` passes of a plain open_clip loop over pre-collated batches."""
    now = _clock(device)
    _synchronize(device)
    start = now()
    model.train()
    for _ in range(epochs):
        for images, tokens, labels in batches:
            with torch.autocast(device.type, dtype=torch.float16, enabled=scaler.is_enabled()):
                image_features, text_features, scale = model(images, tokens)[:3]
                loss = criterion(image_features, text_features, scale, labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
    _synchronize(device)
    return epochs * len(batches), now() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="default", choices=sorted(CLIP_RECIPES), help="embedded CLIP architecture")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (the first is a warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: shared cores)")
    parser.add_argument("--out", type=Path, default=RESULTS / "train_overhead.json")
    for model, names in OPTIONS:  # declared by the kit's parameter models, with this benchmark's defaults
        add_arguments(parser, model, names, DEFAULTS)
    args = parser.parse_args(argv)
    for model, names in OPTIONS:
        read_arguments(args, model, names, DEFAULTS)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    model, preprocess, tokenizer = build_model(args.size)
    captioned = training_data(preprocess, args.shots)
    tokenized = TokenizedTexts(captioned, captioned.all_texts(), tokenizer)
    criterion = MMFTLoss(w=0.1)
    captioned.set_epoch(1)
    batches = [[t.to(device) for t in batch] for batch in DataLoader(tokenized, batch_size=64)]
    flops = step_flops(copy.deepcopy(model).to(device), batches[0], criterion)

    bare_model = copy.deepcopy(model).to(device)
    optimizer = torch.optim.AdamW(bare_model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY, fused=True)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    kit_models = [copy.deepcopy(model), copy.deepcopy(model)]
    loops = {
        "kit": lambda: kit_round(kit_models[0], tokenized, loss_function("mmft", tokenizer), args.epochs, device),
        "kit, tokenising every batch":
            lambda: kit_round(kit_models[1], captioned, loss_function("mmft", tokenizer), args.epochs, device),
        "bare": lambda: bare_round(bare_model, optimizer, scaler, criterion, batches, args.epochs, device),
    }
    peaks = [matmul_peak(device)]
    rates: dict[str, list[float]] = {name: [] for name in loops}
    for round_ in range(args.rounds):
        names = list(loops) if round_ % 2 == 0 else list(reversed(loops))
        for name in names:
            steps, seconds = loops[name]()
            if round_ > 0:
                rates[name].append(steps / seconds)
        peaks.append(matmul_peak(device))
    peak = max(peaks)

    best = {name: max(r) for name, r in rates.items()}
    ratios = [k / b for k, b in zip(rates["kit"], rates["bare"])]
    result = {
        "model": f"embedded CLIP '{args.size}' architecture, random weights",
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch": 64, "images": len(captioned), "epochs_per_round": args.epochs, "rounds_timed": args.rounds - 1,
        "device": str(device), "amp": device.type == "cuda", "threads": args.threads,
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_average": os.getloadavg(), "flops_per_step": flops, "fp32_matmul_peak": peak,
        "clock": "process CPU time" if device.type == "cpu" else "wall time",
        "steps_per_second": best,
        "steps_per_second_each_round": rates,
        "ratio": best["kit"] / best["bare"], "ratio_median_of_rounds": statistics.median(ratios),
        "ratio_each_round": ratios, "ratio_tokenising_every_batch": best["kit, tokenising every batch"] / best["bare"],
    }
    unit = "steps per CPU second" if device.type == "cpu" else "steps/s"
    for name, rate in result["steps_per_second"].items():
        print(f"{name:30s} {rate:6.2f} {unit}  {rate * flops / 1e9:7.2f} GFLOP/s = "
              f"{rate * flops / peak:.1%} of the fp32 matmul peak ({peak / 1e9:.1f} GFLOP/s on {device}, "
              f"{args.threads} thread)")
    print(f"kit/bare each round: {' '.join(f'{r:.3f}' for r in ratios)} (median {statistics.median(ratios):.3f}); "
          f"tokenising every batch: {result['ratio_tokenising_every_batch']:.3f}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    atomic_write_json(args.out, result)
    print(f"ratio={result['ratio']:.3f}")
    return result


if __name__ == "__main__":
    main()
