"""Export a caption store for the tools people train with at scale.

* :func:`to_parquet`: every caption record as a row (pyarrow), the store's settings in the schema's metadata;
* :func:`to_csv`: open_clip's CSV (``filepath`` and ``title`` columns, one row per caption), separated by
  :data:`CSV_SEPARATOR` (a tab, open_clip's ``--csv-separator`` default) unless told otherwise; read by
  ``python -m open_clip_train.main --train-data FILE.csv --csv-img-key filepath --csv-caption-key title``
  and by ``pandas.read_csv(FILE, sep="\t")``;
* :func:`to_webdataset`: WebDataset shards (``.tar``), one sample per image with its image, ``txt`` (the first
  characteristic's text, which open_clip's ``--dataset-type webdataset`` reads) and ``json`` holding every
  caption keyed by characteristic.

Titles are the kit's training text, ``"a photo of a {class}. {caption}"`` (the authors'
``--add_class_template``), unless ``class_prefix=False``. CSV and WebDataset need the images: they
are matched to the store's captions by content, so any split or ordering of the data set works.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from ..data.images import to_rgb
from ..data.items import dataset_image, dataset_info, dataset_label, item_path
from ..errors import InvalidInputError
from ..io import atomic_write_text
from .generate import UNREADABLE_IMAGE_ERRORS
from .store import CaptionStore, image_digest
from .training_text import training_text

#: The CSV export's default separator: a tab, as open_clip's training reads CSVs (``--csv-separator``).
CSV_SEPARATOR = "\t"
#: Characters that cannot separate CSV columns.
_NOT_SEPARATORS = {'"', "\n", "\r"}
#: The columns of the Parquet export, in order.
PARQUET_COLUMNS = ("image", "index", "class", "characteristic", "prompt", "caption")
#: Image files copied into WebDataset shards as they are; other images are written as PNG.
_WDS_SUFFIXES = {".jpg": "jpg", ".jpeg": "jpg", ".png": "png", ".webp": "webp"}


def _open(store: CaptionStore | str | os.PathLike) -> CaptionStore:
    return store if isinstance(store, CaptionStore) else CaptionStore(store)


def to_parquet(store: CaptionStore | str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write every caption record of ``store`` to a Parquet file.

    Args:
        store: the caption store (or its path).
        path: the Parquet file to write.

    Returns:
        The path written; ``pyarrow.parquet.read_table(path)`` gives the records back, and
        ``schema.metadata[b"mmft_kit.settings"]`` the store's settings as JSON.
    """
    store = _open(store)
    records = list(store.records())
    columns = {name: [r.get(name) for r in records] for name in PARQUET_COLUMNS}
    types = {"index": pa.int64()}
    table = pa.table({name: pa.array(values, type=types.get(name, pa.string())) for name, values in columns.items()})
    table = table.replace_schema_metadata({"mmft_kit.settings": json.dumps(store.settings, sort_keys=True)})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


@dataclass
class _Item:
    index: int
    digest: str
    label: int
    classname: str
    path: str | None
    image: Image.Image
    captions: dict[str, str]  # characteristic -> caption


def _items(store: CaptionStore, dataset) -> Iterator[_Item]:
    """The images of ``dataset`` that have captions in ``store``, each with its captions by characteristic."""
    by_image: dict[str, dict[str, str]] = {}
    for record in store.records():
        by_image.setdefault(record["image"], {}).setdefault(record.get("characteristic", "caption"),
                                                            record["caption"])
    classnames, _ = dataset_info(dataset)
    for index in range(len(dataset)):
        try:
            image = dataset_image(dataset, index)
        except UNREADABLE_IMAGE_ERRORS:
            continue  # skipped when captioning too
        digest = image_digest(image)
        if digest in by_image:
            label = dataset_label(dataset, index)
            yield _Item(index, digest, label, classnames[label], item_path(dataset, index), image, by_image[digest])


def _title(item: _Item, caption: str, class_prefix: bool) -> str:
    return training_text(caption, item.classname, add_class_prefix=class_prefix)


def to_csv(
    store: CaptionStore | str | os.PathLike, dataset, path: str | os.PathLike, class_prefix: bool = True,
    separator: str = CSV_SEPARATOR,
) -> Path:
    """Write open_clip's CSV: one row per caption, ``filepath`` and ``title`` columns.

    Args:
        store: the caption store.
        dataset: the data set the captions were made for (images are matched by content).
        path: the CSV file. Images that are not files (in-memory data sets) are written as PNG
            into ``<path stem>_images/`` beside it.
        class_prefix: titles start with "a photo of a {class}." (the kit's training text).
        separator: one character between the columns; the default tab is what open_clip's training
            reads without ``--csv-separator`` (pandas: ``read_csv(path, sep="\t")``). Titles holding it
            are quoted.

    Returns:
        The path written.
    """
    if len(separator) != 1 or separator in _NOT_SEPARATORS:
        raise InvalidInputError(f"separator must be one character other than a quote or a line break; "
                                f"got {separator!r}")
    store, path = _open(store), Path(path)
    images = path.with_name(f"{path.stem}_images")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\n")
    writer.writerow(["filepath", "title"])
    rows = 0
    for item in _items(store, dataset):
        file = item.path
        if file is None:
            images.mkdir(parents=True, exist_ok=True)
            file = str((images / f"{item.digest[:24]}.png").resolve())
            if not os.path.exists(file):
                to_rgb(item.image).save(file)
        for caption in item.captions.values():
            writer.writerow([str(Path(file).resolve()), _title(item, caption, class_prefix)])
            rows += 1
    if rows == 0:
        raise InvalidInputError(f"none of the data set's images has a caption in {store.path}: is it the right split?")
    atomic_write_text(path, buffer.getvalue())
    return path


def _image_bytes(item: _Item) -> tuple[str, bytes]:
    suffix = Path(item.path).suffix.lower() if item.path else ""
    if suffix in _WDS_SUFFIXES:
        return _WDS_SUFFIXES[suffix], Path(item.path).read_bytes()
    buffer = io.BytesIO()
    to_rgb(item.image).save(buffer, format="PNG")
    return "png", buffer.getvalue()


def to_webdataset(
    store: CaptionStore | str | os.PathLike,
    dataset,
    folder: str | os.PathLike,
    shard_size: int = 1000,
    class_prefix: bool = True,
) -> list[Path]:
    """Write WebDataset shards ``captions-000000.tar``, ... : one sample per captioned image.

    Each sample holds the image (``jpg``/``png``/``webp``: the file's own bytes when it is one,
    else PNG), ``txt`` (the first characteristic's title) and ``json``: ``{"captions": {characteristic:
    title}, "class", "label", "index"}``.

    Args:
        store: the caption store.
        dataset: the data set the captions were made for (images are matched by content).
        folder: where the shards go.
        shard_size: samples per shard.
        class_prefix: titles start with "a photo of a {class}.".

    Returns:
        The shard files written.
    """
    import webdataset as wds

    if shard_size < 1:
        raise InvalidInputError(f"shard_size must be at least 1; got {shard_size}")
    store, folder = _open(store), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with wds.ShardWriter(str(folder / "captions-%06d.tar"), maxcount=shard_size, verbose=0) as sink:
        for item in _items(store, dataset):
            kind, data = _image_bytes(item)
            titles = {name: _title(item, caption, class_prefix) for name, caption in item.captions.items()}
            sink.write({
                "__key__": item.digest[:32],
                kind: data,
                "txt": next(iter(titles.values())),
                "json": json.dumps({"captions": titles, "class": item.classname, "label": item.label,
                                    "index": item.index}).encode("utf-8"),
            })
    return sorted(folder.glob("captions-*.tar"))
