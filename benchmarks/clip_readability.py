"""What each CLIP's frozen image features can read of the world's attributes, and what its text tower names.

    python benchmarks/clip_readability.py                                  # the shipped embedded CLIP
    python benchmarks/clip_readability.py --clip embedded embedded:unknown-names local-dir:FOLDER

Per attribute: a linear probe's cross-validated accuracy on the frozen image features of fresh, clean
world images, the share of those features' variance between the attribute's values, the attribute's
zero-shot accuracy from its text prompts, and chance
(:func:`mmft_kit.embedded.readability.attribute_readability`). A task's classes are rules over these
attributes, so this bounds what its few-shot baselines can reach (``benchmarks/calibration.py``).
Results: ``benchmarks/results/clip_readability.md`` (``--out``). The headline, last, is each CLIP's mean
probe accuracy over the attributes that define classes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmft_kit.data.tasks import class_attributes  # noqa: E402
from mmft_kit.embedded.readability import attribute_readability  # noqa: E402
from mmft_kit.io import atomic_write_text  # noqa: E402
from mmft_kit.models import load_clip, model_hash  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", nargs="+", default=["embedded"], help="CLIPs (names load_clip takes)")
    parser.add_argument("--images", type=int, default=2000, help="fresh world images for the probes")
    parser.add_argument("--out", type=Path, default=RESULTS / "clip_readability.md")
    return parser.parse_args(argv)


def table(reports: dict[str, dict[str, dict[str, float]]], used: Sequence[str]) -> str:
    """One row per attribute (``used``: those that define classes); per CLIP its probe accuracy, variance share
    and zero-shot accuracy."""
    clips = list(reports)
    attributes = list(next(iter(reports.values())))
    columns = " | ".join(f"{c}: probe | {c}: variance | {c}: zero-shot" for c in clips)
    head = f"| attribute | defines classes | chance | {columns} |"
    rows = [head, "|" + "---|" * (3 + 3 * len(clips))]
    for name in attributes:
        cells = [f"{r['probe']:.2f} | {r['variance']:.3f} | {r['zero_shot']:.2f}"
                 for r in (reports[c][name] for c in clips)]
        chance = reports[clips[0]][name]["chance"]
        rows.append(f"| {name} | {'yes' if name in used else 'no'} | {chance:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.time()
    reports = {}
    for clip in args.clip:
        model, _, tokenizer = load_clip(clip, device="cpu")
        reports[clip] = attribute_readability(model, tokenizer, n_images=args.images)
    used = class_attributes()
    headline = "; ".join(f"{c}: {np.mean([reports[c][a]['probe'] for a in used]):.2f}" for c in reports)
    text = "\n".join([
        "# What the CLIP's frozen image features read of each world attribute",
        "",
        f"Produced by `python benchmarks/clip_readability.py --clip {' '.join(args.clip)} --images {args.images}` "
        f"in {time.time() - start:.0f} s. Builds: " + ", ".join(f"`{c}` {model_hash('clip', c)}" for c in args.clip) + ".",
        "Probe: logistic regression (C 10), 3-fold cross-validated, on the normalised image features of "
        f"{args.images} fresh clean world images (the period only on patterned ones); zero-shot: the attribute's "
        "text prompts on 600 other fresh images; variance: the share of the features' variance that lies between "
        "the attribute's values (what a cache of few-shot features, compared by cosine, can use).",
        "",
        table(reports, used),
        "",
        f"Mean probe accuracy over the attributes that define classes ({', '.join(used)}): {headline}",
        "",
    ])
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
