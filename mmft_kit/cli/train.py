"""``python -m mmft_kit train``: one run of any registered method from the command line (torchrun for many processes).

The options are the fields of every registered method's run config (:data:`mmft_kit.methods.METHODS`);
``--method`` picks the method, and with it the config the other options fill.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

#: Where runs go when no --output-dir is given: RUNS/DATASET-OR-TASK/METHOD[-SHOTSshot]-seedSEED.
DEFAULT_RUNS = "runs/train"


def _config_classes() -> list[type]:
    """Each registered method's config class once, in registration order."""
    from ..methods import METHODS

    return list(dict.fromkeys(method.config for method in METHODS.values()))


def register(subparsers) -> None:
    from ..methods import METHODS, listing
    from ..params import add_arguments

    parser = subparsers.add_parser(
        "train",
        help=f"run one method ({', '.join(METHODS)}) and test it",
        description=(
            "One run, as the notebooks make it. For a CLIP method: few-shot draw, captions (made first\n"
            "with --make-captions), zero-shot baseline, fine-tuning with the best validation epoch kept,\n"
            "test; the run folder gets results.json, provenance.json, checkpoint.pt (resumable: run the\n"
            "same command again after an interruption) and best_model.pt. For a PaRe method: the target\n"
            "task --task with the body --body; the run folder gets results.json. Without --output-dir the\n"
            "folder is runs/train/DATASET-OR-TASK/METHOD[-SHOTSshot]-seedSEED. Every option is a field of\n"
            "the method's run config; an option of another method's config is an error. Under torchrun\n"
            "the N processes train a CLIP method together (NCCL on GPUs, gloo on CPU) and reach the\n"
            "one-process result; --batch-size is the global batch, split over them.\n\n"
            "methods:\n" + listing()
        ),
        epilog=(
            "examples:\n"
            "  python -m mmft_kit train --dataset glyphs --shots 4 --epochs 10 --lr 3e-4 --make-captions\n"
            "  python -m mmft_kit train --method pare --task darcy --epochs 8\n"
            "  torchrun --nproc_per_node=4 -m mmft_kit train --dataset DTD --root data --shots none \\\n"
            "      --clip ViT-B-32 --pretrained openai --captioner Qwen/Qwen2.5-VL-3B-Instruct --make-captions\n"
            "(see README, 'Scaling up', for several nodes and SLURM)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    seen: set[str] = set()
    for config in _config_classes():
        names = [name for name in config.model_fields if name not in seen]
        if names:
            add_arguments(parser.add_argument_group(f"{config.__name__} settings"), config, names)
        seen.update(names)
    parser.set_defaults(run=run)


def default_output_dir(subject: str, method: str, shots: int | None | str, seed: int) -> Path:
    """``runs/train/SUBJECT/METHOD-SHOTSshot-seedSEED`` (``all`` shots for the whole train pool; no shots part
    when ``shots`` is ``"-"``, for methods without a few-shot draw)."""
    name = re.sub(r"[^A-Za-z0-9.]+", "_", Path(subject).name).strip("_") or "dataset"
    draw = "" if shots == "-" else f"-{shots if shots is not None else 'all'}shot"
    return Path(DEFAULT_RUNS) / name / f"{method}{draw}-seed{seed}"


def run(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from ..errors import InvalidInputError
    from ..methods import get_method
    from ..params import from_arguments
    from ..runtime import init_distributed
    from ..train.loop import is_main_process

    from ..train import TrainConfig

    method = get_method(getattr(args, "method", TrainConfig.model_fields["method"].default))
    fields = method.config.model_fields
    foreign = sorted(name for name in vars(args) if name not in fields and name not in ("run", "command"))
    if foreign:
        raise InvalidInputError(f"{', '.join('--' + n.replace('_', '-') for n in foreign)} do(es) not apply to "
                                f"method {method.name!r} ({method.config.__name__}); its options are the fields "
                                f"of {method.config.__name__}")
    config = from_arguments(method.config, args, method=method.name)
    if config.output_dir is None:
        subject = getattr(config, "dataset", None) or getattr(config, "task", method.family)
        folder = default_output_dir(subject, method.name, getattr(config, "shots", "-"), config.seed)
        config = config.updated(output_dir=str(folder))
    joined = init_distributed(config.device)
    main = is_main_process()
    try:
        result = method.run(config)
    finally:
        if joined:
            dist.destroy_process_group()
    if main:
        zeroshot = result.extra.get("zeroshot")
        print(f"{method.name} (seed {config.seed}): test {result.metric} {result.test:.4f}, validation "
              f"{result.val:.4f} (best epoch {result.best_epoch})"
              + (f", zero-shot {zeroshot:.4f}" if zeroshot is not None else "")
              + f", {result.seconds:.0f} s; run folder {config.output_dir}")
    return 0
