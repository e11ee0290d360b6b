"""``python -m mmft_kit caption``: caption a data set into a caption store (resumable, shardable)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "caption",
        help="caption a data set with a multimodal LLM into a caption store",
        description=(
            "Caption every image of a data set once per characteristic with the synthetic-captions prompt, "
            "into a JSONL caption store. Captions already in the store are reused, so an interrupted run "
            "continues where it stopped; --shard i/n splits the work between processes sharing one store."
        ),
    )
    parser.add_argument("--dataset", required=True, help="data set name (e.g. glyphs, digits, DTD) or ImageFolder path")
    parser.add_argument("--store", required=True, help="caption store file (JSONL), made if missing")
    parser.add_argument("--captioner", default="embedded",
                        help="embedded (the kit's VLM; embedded:SIZE for another size), label (class-name text only), "
                             "a transformers hub id or a model folder (default: embedded)")
    parser.add_argument("--characteristics", nargs="+", default=None,
                        help="characteristics to describe, one caption each (default: visual shape texture, "
                             "from the kit's templates.json)")
    parser.add_argument("--words", type=int, default=50, help="words asked for per caption (default: 50)")
    parser.add_argument("--template", default=None,
                        help="prompt template: a name from templates.json, a template string, or a file")
    parser.add_argument("--split", default="train", help="data set split (default: train)")
    parser.add_argument("--root", default=None, help="folder holding the data sets")
    parser.add_argument("--batch-size", type=int, default=16, help="captions generated at once (default: 16)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when present, else CPU)")
    parser.add_argument("--dtype", default=None, choices=("float32", "float16", "bfloat16"),
                        help="model dtype (default: bfloat16 on CUDA, else float32)")
    parser.add_argument("--temperature", type=float, default=0.2,
                        help="sampling temperature; 0: greedy (default: 0.2, as in the paper)")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="longest caption in tokens (default: the model's generation config, else 256)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    parser.add_argument("--limit", type=int, default=None, help="caption only the first N images")
    parser.add_argument("--shard", default=None,
                        help="i/n: take every n-th image from the i-th (0-based); shards can share one store")
    parser.add_argument("--overwrite", action="store_true",
                        help="start the store afresh if it was made with other settings")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..captions import caption_dataset, load_captioner, parse_shard
    from ..data import get_dataset

    shard = parse_shard(args.shard) if args.shard else None
    dataset = get_dataset(args.dataset, root=args.root, split=args.split)
    captioner = load_captioner(
        args.captioner, device=args.device, batch_size=args.batch_size, temperature=args.temperature,
        max_new_tokens=args.max_new_tokens, seed=args.seed, dtype=args.dtype,
    )
    report = caption_dataset(
        dataset, captioner, args.store, characteristics=args.characteristics, words=args.words,
        template=args.template, limit=args.limit, shard=shard, progress=not args.quiet, overwrite=args.overwrite,
    )
    print(report.summary())
    return 0
