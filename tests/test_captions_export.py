"""Export round trips: Parquet reads back as the store, open_clip's CSV loader and WebDataset read the rest."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from mmft_kit.__main__ import main
from mmft_kit.captions import CaptionStore, caption_dataset, training_text
from mmft_kit.captions.export import CSV_SEPARATOR, PARQUET_COLUMNS, to_csv, to_parquet, to_webdataset
from mmft_kit.data import get_dataset
from mmft_kit.errors import InvalidInputError

from conftest import RecordingCaptioner, write_image_folder


@pytest.fixture(scope="module")
def captioned(tmp_path_factory):
    """An image folder (files) and a world task (in memory), each with a store of two captions per image."""
    root = tmp_path_factory.mktemp("export")
    folder = get_dataset(str(write_image_folder(root / "images", 6)))
    world = get_dataset("glyphs", split="val")
    stores = {}
    for name, dataset in (("folder", folder), ("world", world)):
        stores[name] = root / f"{name}.jsonl"
        caption_dataset(dataset, RecordingCaptioner(), stores[name], characteristics=["visual", "shape"], limit=5,
                        progress=False)
    return root, {"folder": folder, "world": world}, stores


def test_parquet_reads_back_as_the_store(captioned, tmp_path):
    _, _, stores = captioned
    store = CaptionStore(stores["folder"])
    table = pq.read_table(to_parquet(store, tmp_path / "c.parquet"))
    assert table.column_names == list(PARQUET_COLUMNS)
    assert table.to_pylist() == [{k: r[k] for k in PARQUET_COLUMNS} for r in store.records()]
    assert json.loads(table.schema.metadata[b"mmft_kit.settings"]) == store.settings


@pytest.mark.parametrize("kind", ["folder", "world"])
def test_open_clip_csv_loader_reads_the_csv(captioned, tmp_path, kind):
    from open_clip_train.data import CsvDataset

    _, datasets, stores = captioned
    path = to_csv(stores[kind], datasets[kind], tmp_path / "c.csv")
    loaded = CsvDataset(str(path), transforms=lambda image: image.size, img_key="filepath", caption_key="title",
                        tokenizer=lambda texts: texts)
    store = CaptionStore(stores[kind])
    assert len(loaded) == len(store) == 10
    size, title = loaded[0]
    first = next(store.records())
    assert title == training_text(first["caption"], first["class"]) and size == (32, 32)
    assert sorted(loaded.captions) == sorted(training_text(r["caption"], r["class"]) for r in store.records())


def test_the_csv_separator_is_a_tab_by_default_and_settable(captioned, tmp_path, capsys):
    import pandas as pd
    from open_clip_train.data import CsvDataset
    from open_clip_train.params import parse_args

    root, datasets, stores = captioned
    assert CSV_SEPARATOR == parse_args([]).csv_separator == "\t"  # open_clip's training reads it without a flag
    tabbed = pd.read_csv(to_csv(stores["folder"], datasets["folder"], tmp_path / "tab.csv"), sep="\t")
    argv = ["caption", "export", "--store", str(stores["folder"]), "--dataset", str(root / "images"),
            "--formats", "csv", "--to"]
    assert main(argv + [str(tmp_path / "comma"), "--csv-separator", ","]) == 0
    assert "(separator ',')" in capsys.readouterr().out
    commas = pd.read_csv(tmp_path / "comma" / "folder.csv")  # pandas' own default separator
    assert list(commas.columns) == ["filepath", "title"] and commas.equals(tabbed) and len(commas) == 10
    loaded = CsvDataset(str(tmp_path / "comma" / "folder.csv"), transforms=None, img_key="filepath",
                        caption_key="title", sep=",")
    assert loaded.captions == tabbed["title"].tolist()
    assert main(argv + [str(tmp_path / "tab"), "--csv-separator", "tab"]) == 0
    assert pd.read_csv(tmp_path / "tab" / "folder.csv", sep="\t").equals(tabbed)
    with pytest.raises(InvalidInputError, match="separator must be one character"):
        to_csv(stores["folder"], datasets["folder"], tmp_path / "q.csv", separator='"')
    assert main(argv + [str(tmp_path), "--csv-separator", ";;"]) == 2
    assert "give one character, or 'tab'; got ';;'" in capsys.readouterr().err


def test_webdataset_shards_hold_image_text_and_every_caption(captioned, tmp_path):
    import webdataset as wds

    _, datasets, stores = captioned
    shards = to_webdataset(stores["folder"], datasets["folder"], tmp_path / "wds", shard_size=2)
    assert len(shards) == 3  # 5 images, 2 per shard
    samples = list(wds.WebDataset([str(s) for s in shards], shardshuffle=False).decode("pil"))
    assert len(samples) == 5
    store = CaptionStore(stores["folder"])
    for sample in samples:
        meta = sample["json"]
        assert set(meta["captions"]) == {"visual", "shape"} and sample["txt"] == meta["captions"]["visual"]
        assert sample["png"].size == (32, 32)
        index = meta["index"]
        assert meta["class"] == datasets["folder"].classnames[datasets["folder"].targets[index]]
    assert sum(len(s["json"]["captions"]) for s in samples) == len(store)


def test_export_command_writes_every_format(captioned, tmp_path, capsys):
    root, _, stores = captioned
    argv = ["caption", "export", "--store", str(stores["folder"]), "--dataset", str(root / "images"),
            "--to", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "parquet:" in out and "csv:" in out and "wds: 1 shard(s)" in out
    assert (tmp_path / "folder.parquet").exists() and (tmp_path / "folder.csv").exists()
    assert main(["caption", "export", "--store", str(stores["folder"]), "--to", str(tmp_path), "--formats",
                 "csv"]) == 2
    assert "need the images: give --dataset" in capsys.readouterr().err
