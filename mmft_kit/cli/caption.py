"""``python -m mmft_kit caption``: caption a data set into a caption store (resumable, shardable), and
``python -m mmft_kit caption export``: write a store as Parquet, open_clip CSV or WebDataset shards.

Every option is a field of :class:`~mmft_kit.params.captions.CaptionJob` (or
:class:`~mmft_kit.params.captions.CaptionExport`), declared there once.
"""

from __future__ import annotations

import argparse

#: Option names that differ from their field's name.
FLAGS = {"caption_store": "--store", "caption_batch_size": "--batch-size", "images_of": "--dataset"}
#: The options of the back ends, in their own groups.
IN_PROCESS = ("caption_batch_size", "device", "dtype")
SERVED = ("base_url", "api_key_env", "concurrency", "timeout", "max_retries")


def register(subparsers) -> None:
    from ..params import add_arguments
    from ..params.captions import CaptionExport, CaptionJob

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
    backend = set(IN_PROCESS + SERVED)
    add_arguments(parser, CaptionJob, [n for n in CaptionJob.model_fields if n not in backend], flags=FLAGS)
    add_arguments(parser.add_argument_group("in-process models (embedded, hub ids, folders)"), CaptionJob, IN_PROCESS,
                  flags=FLAGS)
    add_arguments(parser.add_argument_group("served models (--captioner openai:MODEL)"), CaptionJob, SERVED,
                  flags=FLAGS)
    parser.set_defaults(run=run)

    actions = parser.add_subparsers(dest="action", metavar="[export]")
    export = actions.add_parser(
        "export", help="write a caption store as Parquet, open_clip CSV and/or WebDataset shards",
        description="Write a caption store as Parquet (every record), open_clip's CSV (filepath, title) and "
                    "WebDataset shards (image, txt, json with every caption). CSV and WebDataset need the data "
                    "set the captions were made for (--dataset); its images are matched by content.",
    )
    add_arguments(export, CaptionExport, flags=FLAGS)
    export.set_defaults(run=run_export)


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
    from ..models import load_captioner
    from ..params import from_arguments
    from ..params.captions import CaptionJob
    from ..train.captions import default_store

    job = from_arguments(CaptionJob, args)
    shard = parse_shard(job.shard) if job.shard else None
    dataset = get_dataset(job.dataset, root=job.root, split=job.split, domain=job.domain)
    store = job.caption_store or default_store(job.dataset, job.root, job.captioner, job.words, job.template)
    captioner = load_captioner(job.captioner, **{**job.captioner_options(), "device": _device(job.device)})
    report = caption_dataset(
        dataset, captioner, store, characteristics=job.characteristics, words=job.words, template=job.template,
        limit=job.limit, shard=shard, progress=not job.quiet, overwrite=job.overwrite, strict=job.strict,
    )
    print(report.summary())
    return 0


def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..captions import CaptionStore
    from ..captions.export import to_csv, to_parquet, to_webdataset
    from ..data import get_dataset
    from ..errors import InvalidInputError
    from ..params import from_arguments
    from ..params.captions import CaptionExport

    job = from_arguments(CaptionExport, args)
    store, folder = CaptionStore(job.store), Path(job.to)
    needs_images = sorted(set(job.formats) - {"parquet"})
    if needs_images and not job.images_of:
        raise InvalidInputError(f"{' and '.join(needs_images)} need the images: give --dataset (and --split, --root)")
    dataset = get_dataset(job.images_of, root=job.root, split=job.split) if needs_images else None
    stem = Path(job.store).stem
    if "parquet" in job.formats:
        print(f"parquet: {to_parquet(store, folder / f'{stem}.parquet')} ({len(store)} captions)")
    if "csv" in job.formats:
        path = to_csv(store, dataset, folder / f"{stem}.csv", class_prefix=job.class_prefix, separator=job.csv_separator)
        shown = "tab" if job.csv_separator == "\t" else repr(job.csv_separator)
        print(f"csv: {path} (separator {shown})")
    if "wds" in job.formats:
        shards = to_webdataset(store, dataset, folder / f"{stem}-wds", job.shard_size, class_prefix=job.class_prefix)
        print(f"wds: {len(shards)} shard(s) in {folder / f'{stem}-wds'}")
    return 0
