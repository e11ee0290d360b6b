"""``python -m mmft_kit train``: one fine-tuning run from the command line, on one process or many (torchrun)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

#: Where runs go when no --output-dir is given: RUNS/DATASET/METHOD-SHOTSshot-seedSEED.
DEFAULT_RUNS = "runs/train"


def register(subparsers) -> None:
    from ..params import add_arguments
    from ..train import METHODS, TrainConfig

    parser = subparsers.add_parser(
        "train",
        help=f"fine-tune a CLIP with one method ({', '.join(METHODS)}) and test it",
        description=(
            "One fine-tuning run, as the notebooks make it: few-shot draw, captions (made first with\n"
            "--make-captions), zero-shot baseline, fine-tuning with the best validation epoch kept, test.\n"
            "The run folder gets results.json, provenance.json, checkpoint.pt (resumable: run the same\n"
            "command again after an interruption) and best_model.pt; without --output-dir it is\n"
            "runs/train/DATASET/METHOD-SHOTSshot-seedSEED. Every option is a field of the run\n"
            "config. Under torchrun the N processes train together (NCCL on GPUs, gloo on CPU) and reach\n"
            "the one-process result; --batch-size is the global batch, split over them."
        ),
        epilog=(
            "examples:\n"
            "  python -m mmft_kit train --dataset glyphs --shots 4 --epochs 10 --lr 3e-4 --make-captions\n"
            "  torchrun --nproc_per_node=4 -m mmft_kit train --dataset DTD --root data --shots none \\\n"
            "      --clip ViT-B-32 --pretrained openai --captioner Qwen/Qwen2.5-VL-3B-Instruct --make-captions\n"
            "(see README, 'Scaling up', for several nodes and SLURM)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser.add_argument_group("run settings"), TrainConfig)
    parser.set_defaults(run=run)


def default_output_dir(dataset: str, method: str, shots: int | None, seed: int) -> Path:
    """``runs/train/DATASET/METHOD-SHOTSshot-seedSEED`` (``all`` shots for the whole train pool)."""
    name = re.sub(r"[^A-Za-z0-9.]+", "_", Path(dataset).name).strip("_") or "dataset"
    return Path(DEFAULT_RUNS) / name / f"{method}-{shots if shots is not None else 'all'}shot-seed{seed}"


def run(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from ..params import from_arguments
    from ..runtime import init_distributed
    from ..train import TrainConfig
    from ..train import run as run_training
    from ..train.loop import is_main_process

    config = from_arguments(TrainConfig, args)
    if config.output_dir is None:
        config = config.updated(output_dir=str(default_output_dir(config.dataset, config.method, config.shots,
                                                                  config.seed)))
    joined = init_distributed(config.device)
    main = is_main_process()
    try:
        result = run_training(config)
    finally:
        if joined:
            dist.destroy_process_group()
    if main:
        print(f"{config.method} on {config.dataset} ({config.shots} shots, seed {config.seed}): "
              f"test accuracy {result.test:.4f}, validation {result.val:.4f} "
              f"(best epoch {result.best_epoch}), zero-shot {result.extra['zeroshot']:.4f}, "
              f"{result.seconds:.0f} s; run folder {config.output_dir}")
    return 0
