"""``python -m mmft_kit caption``: caption a data set into a caption store (resumable, shardable), and
``python -m mmft_kit caption export``: write a store as Parquet, open_clip CSV or WebDataset shards."""

from __future__ import annotations

import argparse

EXPORT_FORMATS = ("parquet", "csv", "wds")


def _data_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--dataset", required=required,
                        help="data set name (e.g. glyphs, digits, DTD) or ImageFolder path")
    parser.add_argument("--split", default="train", help="data set split (default: train)")
    parser.add_argument("--root", default=None, help="folder holding the data sets")


def register(subparsers) -> None:
    from ..params import CaptionerParams, add_arguments

    parser = subparsers.add_parser(
        "caption",
        help="caption a data set with a multimodal LLM into a caption store (or export a store)",
        description=(
            "Caption every image of a data set once per characteristic with the synthetic-captions prompt,\n"
            "into a JSONL caption store. Captions already in the store are reused, so an interrupted run\n"
            "continues where it stopped; --shard i/n (or torchrun) splits the work between processes sharing\n"
            "one store. Images that cannot be read or captioned are skipped and listed beside the store.\n"
            "`caption export` writes a store as Parquet, open_clip CSV or WebDataset shards."
        ),
        epilog=(
            "examples:\n"
            "  python -m mmft_kit caption --dataset glyphs --captioner embedded\n"
            "  python -m mmft_kit caption --dataset DTD --root data --captioner openai:Qwen/Qwen2.5-VL-7B-Instruct \\\n"
            "      --base-url http://localhost:8000/v1 --concurrency 32 --store dtd.jsonl\n"
            "  torchrun --nproc_per_node=4 -m mmft_kit caption --dataset DTD --root data --store dtd.jsonl\n"
            "  python -m mmft_kit caption export --store dtd.jsonl --dataset DTD --root data --to export/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_options(parser, required=False)
    parser.add_argument("--store", default=None,
                        help="caption store file (JSONL), made if missing (default: for an image folder "
                             "runs/captions/<folder name>--<captioner>.jsonl; for the kit's and the paper's data "
                             "sets a file per data set and captioner in the kit's cache; printed at the end)")
    parser.add_argument("--captioner", default="embedded",
                        help="embedded (the kit's VLM; embedded:SIZE for another size), label (class-name text only), "
                             "openai:MODEL (a served model, see --base-url), a transformers hub id or a model folder "
                             "(default: embedded)")
    parser.add_argument("--characteristics", nargs="+", default=None,
                        help="characteristics to describe, one caption each (default: visual shape texture, "
                             "from the kit's templates.json)")
    parser.add_argument("--words", type=int, default=50, help="words asked for per caption (default: 50)")
    add_arguments(parser, CaptionerParams, ["domain"])
    parser.add_argument("--template", default=None,
                        help="prompt template: a name from templates.json, a template string, or a file")
    parser.add_argument("--temperature", type=float, default=0.2,
                        help="sampling temperature; 0: greedy (default: 0.2, as in the paper)")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="longest caption in tokens (default: the model's generation config, else 256)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    parser.add_argument("--limit", type=int, default=None, help="caption only the first N images")
    parser.add_argument("--shard", default=None,
                        help="i/n: take every n-th image from the i-th (0-based); shards can share one store "
                             "(default under torchrun: RANK/WORLD_SIZE)")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first image that cannot be read or captioned (default: skip and list it)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start the store afresh if it was made with other settings")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    local = parser.add_argument_group("in-process models (embedded, hub ids, folders)")
    local.add_argument("--batch-size", type=int, default=16, help="captions generated at once (default: 16)")
    local.add_argument("--device", default=None, help="torch device (default: CUDA when present, else CPU)")
    local.add_argument("--dtype", default=None, choices=("float32", "float16", "bfloat16"),
                       help="model dtype (default: bfloat16 on CUDA, else float32)")
    served = parser.add_argument_group("served models (--captioner openai:MODEL)")
    served.add_argument("--base-url", default=None,
                        help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (default: $OPENAI_BASE_URL, "
                             "else OpenAI)")
    served.add_argument("--api-key-env", default="OPENAI_API_KEY",
                        help="environment variable holding the API key (default: OPENAI_API_KEY; local servers "
                             "need none)")
    served.add_argument("--concurrency", type=int, default=8, help="requests in flight (default: 8)")
    served.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default: 60)")
    served.add_argument("--max-retries", type=int, default=5,
                        help="resends of a request that meets a 429, 5xx, time-out or bad reply (default: 5)")
    parser.set_defaults(run=run)

    actions = parser.add_subparsers(dest="action", metavar="[export]")
    export = actions.add_parser(
        "export", help="write a caption store as Parquet, open_clip CSV and/or WebDataset shards",
        description="Write a caption store as Parquet (every record), open_clip's CSV (filepath, title) and "
                    "WebDataset shards (image, txt, json with every caption). CSV and WebDataset need the data "
                    "set the captions were made for (--dataset); its images are matched by content.",
    )
    export.add_argument("--store", required=True, help="the caption store (JSONL)")
    _data_options(export, required=False)
    export.add_argument("--to", required=True, help="output folder")
    export.add_argument("--formats", nargs="+", choices=EXPORT_FORMATS, default=list(EXPORT_FORMATS),
                        help="what to write (default: all)")
    export.add_argument("--no-class-prefix", action="store_true",
                        help="titles are the bare captions (default: 'a photo of a {class}. {caption}')")
    export.add_argument("--shard-size", type=int, default=1000, help="samples per WebDataset shard (default: 1000)")
    export.add_argument("--csv-separator", type=_separator, default=None, metavar="CHAR",
                        help="the CSV's column separator: one character, or 'tab' (default: tab, what open_clip's "
                             "training reads without its flag of the same name; pandas reads it with sep='\\t')")
    export.set_defaults(run=run_export)


def _separator(text: str) -> str:
    """A CSV separator from the command line: one character; ``tab`` or ``\\t`` for a tab."""
    separator = "\t" if text in ("tab", "\\t") else text
    if len(separator) != 1:
        raise argparse.ArgumentTypeError(f"give one character, or 'tab'; got {text!r}")
    return separator


def _device(device: str | None) -> str | None:
    """``device``, or under torchrun with GPUs, this process's own GPU (``cuda:LOCAL_RANK``)."""
    import os

    import torch

    if device is None and "LOCAL_RANK" in os.environ and torch.cuda.is_available():
        return f"cuda:{int(os.environ['LOCAL_RANK']) % torch.cuda.device_count()}"
    return device


def run(args: argparse.Namespace) -> int:
    from ..captions import caption_dataset, parse_shard
    from ..data import get_dataset
    from ..errors import InvalidInputError
    from ..models import load_captioner
    from ..params import CaptionerParams, from_arguments
    from ..train.captions import default_store

    if not args.dataset:
        raise InvalidInputError("give the data set to caption: --dataset NAME (or an ImageFolder path)")
    shard = parse_shard(args.shard) if args.shard else None
    domain = from_arguments(CaptionerParams, args, ["domain"]).domain
    dataset = get_dataset(args.dataset, root=args.root, split=args.split, domain=domain)
    store = args.store or default_store(args.dataset, args.root, args.captioner, args.words, args.template)
    captioner = load_captioner(
        args.captioner, device=_device(args.device), batch_size=args.batch_size, temperature=args.temperature,
        max_new_tokens=args.max_new_tokens, seed=args.seed, dtype=args.dtype, base_url=args.base_url,
        api_key_env=args.api_key_env, concurrency=args.concurrency, timeout=args.timeout,
        max_retries=args.max_retries,
    )
    report = caption_dataset(
        dataset, captioner, store, characteristics=args.characteristics, words=args.words,
        template=args.template, limit=args.limit, shard=shard, progress=not args.quiet, overwrite=args.overwrite,
        strict=args.strict,
    )
    print(report.summary())
    return 0


def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..captions import CaptionStore
    from ..captions.export import CSV_SEPARATOR, to_csv, to_parquet, to_webdataset
    from ..data import get_dataset
    from ..errors import InvalidInputError

    store, folder = CaptionStore(args.store), Path(args.to)
    needs_images = sorted(set(args.formats) - {"parquet"})
    if needs_images and not args.dataset:
        raise InvalidInputError(f"{' and '.join(needs_images)} need the images: give --dataset (and --split, --root)")
    dataset = get_dataset(args.dataset, root=args.root, split=args.split) if needs_images else None
    prefix = not args.no_class_prefix
    stem = Path(args.store).stem
    if "parquet" in args.formats:
        print(f"parquet: {to_parquet(store, folder / f'{stem}.parquet')} ({len(store)} captions)")
    if "csv" in args.formats:
        separator = args.csv_separator or CSV_SEPARATOR
        path = to_csv(store, dataset, folder / f"{stem}.csv", class_prefix=prefix, separator=separator)
        shown = "tab" if separator == "\t" else repr(separator)
        print(f"csv: {path} (separator {shown})")
    if "wds" in args.formats:
        shards = to_webdataset(store, dataset, folder / f"{stem}-wds", args.shard_size, class_prefix=prefix)
        print(f"wds: {len(shards)} shard(s) in {folder / f'{stem}-wds'}")
    return 0
