"""From a caption store to training text: lookup, the captioned data set, the truncation check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmft_kit.captions import (
    CaptionedDataset,
    LabelCaptioner,
    MissingCaptionsError,
    caption_dataset,
    captions_for_dataset,
    training_text,
    truncation_report,
)
from mmft_kit.data import few_shot, make_world_task

from conftest import FakeCaptioner


@pytest.fixture(scope="module")
def glyphs():
    return make_world_task("glyphs", per_class=3)  # 24 images


@pytest.fixture(scope="module")
def store(glyphs, tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "captions.jsonl"
    caption_dataset(glyphs, FakeCaptioner(), path, progress=False)
    return path


def test_captions_per_index_follow_the_images(glyphs, store):
    captions = captions_for_dataset(glyphs, store)
    assert len(captions) == 24
    assert [c.split(" of a ")[0] for c in captions[0]] == ["visual caption 0", "shape caption 1", "texture caption 2"]
    texture = captions_for_dataset(glyphs, store, characteristics=["texture"])[1]
    assert len(texture) == 1 and texture[0].startswith("texture caption 5 of a ")
    subset = few_shot(glyphs, shots=1, seed=0)  # found by content, whatever the index
    assert captions_for_dataset(subset, store) == [captions[i] for i in subset.indices]


def test_missing_captions_name_the_count_and_the_command(glyphs, tmp_path):
    path = tmp_path / "partial.jsonl"
    caption_dataset(glyphs, FakeCaptioner(), path, limit=20, progress=False)
    with pytest.raises(MissingCaptionsError) as info:
        captions_for_dataset(glyphs, path)
    message = str(info.value)
    assert message.startswith("4 of 24 images lack captions")
    assert f"python -m mmft_kit caption --dataset glyphs --store {path}" in message
    assert "--characteristics visual shape texture --words 50" in message


def test_training_text_prefixes_the_class_once():
    assert training_text("A striped circle.", "pry_sigil") == "a photo of a pry sigil. A striped circle."
    assert training_text("a photo of a vorn.", "vorn") == "a photo of a vorn."  # the label captioner's text
    assert training_text("A striped circle.", "vorn", add_class_prefix=False) == "A striped circle."


def test_captioned_dataset_draws_a_fresh_caption_at_each_visit(glyphs, store):
    captions = captions_for_dataset(glyphs, store)
    data = CaptionedDataset(glyphs, captions, transform=lambda im: torch.as_tensor(np.array(im)), seed=7)
    image, text, label = data[0]
    assert isinstance(image, torch.Tensor) and image.shape == (32, 32, 3) and label == glyphs.targets[0]
    prefix = f"a photo of a {glyphs.classnames[label].replace('_', ' ')}. "
    assert text.startswith(prefix) and text[len(prefix):] in captions[0]

    def epoch_texts(epoch):
        data.set_epoch(epoch)
        return [data[i][1] for i in range(len(data))]

    first = epoch_texts(0)
    assert first == epoch_texts(0)  # reproducible for (seed, epoch)
    assert sum(a != b for a, b in zip(first, epoch_texts(1))) >= 8  # fresh captions the next epoch
    drawn = {t.split(". ", 1)[1].split()[0] for epoch in range(4) for t in epoch_texts(epoch)}
    assert drawn == {"visual", "shape", "texture"}
    assert sorted(data.texts(0)) == sorted(prefix + c for c in captions[0])
    assert len(data.all_texts()) == 72

    unseeded = CaptionedDataset(glyphs, captions)  # the global generator: fresh at every visit
    torch.manual_seed(0)
    visits = {unseeded[3][1] for _ in range(20)}
    assert len(visits) == 3 and isinstance(unseeded[3][0], type(glyphs[3][0]))


def test_label_store_gives_flyp_text(glyphs, tmp_path):
    path = tmp_path / "label.jsonl"
    caption_dataset(glyphs, LabelCaptioner(), path, characteristics=["visual"], progress=False)
    data = CaptionedDataset(glyphs, captions_for_dataset(glyphs, path))
    assert {data[i][1] for i in range(len(data))} == {f"a photo of a {c.replace('_', ' ')}." for c in glyphs.classnames}


def test_truncation_report_counts_texts_past_the_context():
    from open_clip.tokenizer import SimpleTokenizer

    tokenizer = SimpleTokenizer(context_length=8)
    texts = ["a photo of a cat.", "a photo of a black cat.", "a cat."]  # 8, 9 and 5 tokens with start and end
    with pytest.warns(UserWarning, match="1 of 3 texts"):
        report = truncation_report(texts, tokenizer)
    assert (report.total, report.truncated, report.context_length, report.longest) == (3, 1, 8, 9)
    assert report.share == pytest.approx(1 / 3)
    quiet = truncation_report(texts, tokenizer, warn_above=0.5)
    assert quiet.truncated == 1
    long_caption = training_text(" ".join(["striped"] * 80), "vorn")
    assert truncation_report([long_caption] * 9 + ["a cat."], SimpleTokenizer(), warn_above=1.0).truncated == 9
