"""``python -m mmft_kit predict``: classify image files with a saved classifier (or any open_clip model)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify images with a saved classifier or an open_clip model, one CSV row per image",
        description=(
            "Classify image files with a classifier saved by a run (RUN/classifier, or the run folder holding\n"
            "it) or, zero-shot, with any CLIP the kit loads (embedded, an open_clip name, a local-dir: folder)\n"
            "and --classnames. Writes one CSV row per image: path, predicted class, top-5 classes with\n"
            "probabilities. Unreadable files are skipped and listed with the reason (exit status 1)."
        ),
        epilog=(
            "examples:\n"
            "  python -m mmft_kit predict --model runs/glyphs-mmft --images photos/ --out predictions.csv\n"
            "  python -m mmft_kit predict --model embedded --classnames cat dog --images a.png b.png"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True,
                        help="a saved classifier folder (or a run folder with classifier/), or a CLIP for zero-shot")
    parser.add_argument("--images", required=True, nargs="+", help="image files and/or folders (searched recursively)")
    parser.add_argument("--out", default=None, help="CSV file to write (default: standard output)")
    parser.add_argument("--classnames", nargs="+", default=None,
                        help="zero-shot only: the class names, or one file with a name per line")
    parser.add_argument("--pretrained", default=None, help="zero-shot only: open_clip pretrained tag or checkpoint")
    parser.add_argument("--top", type=int, default=5, help="classes listed per image (default: 5)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch (default: 64)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when present, else CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from ..predict import find_images, load_any_classifier, predict_files, write_predictions

    classifier = load_any_classifier(args.model, classnames=args.classnames, pretrained=args.pretrained,
                                     device=args.device)
    files = find_images(args.images)
    rows, skipped = predict_files(classifier, files, batch_size=args.batch_size, top=args.top,
                                  progress=not args.quiet)
    write_predictions(rows, args.out, top=min(args.top, len(classifier.classnames)))
    print(f"{len(rows)} images classified" + (f", written to {args.out}" if args.out else "")
          + (f"; {len(skipped)} skipped" if skipped else ""), file=sys.stderr)
    for path, reason in skipped:
        print(f"skipped: {path}: {reason}", file=sys.stderr)
    return 1 if skipped else 0
