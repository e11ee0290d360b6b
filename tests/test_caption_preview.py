"""Caption previews and caption statistics: sample choice, prompts and timing, counts, vocabulary, mentions."""

from __future__ import annotations

import pytest

from mmft_kit.captions.preview import caption_preview, preview_captions, sample_indices
from mmft_kit.captions.statistics import CaptionRecord, caption_records, caption_statistics, mentions_class
from mmft_kit.data import get_dataset
from mmft_kit.errors import InvalidInputError


@pytest.fixture(scope="module")
def glyphs():
    return get_dataset("glyphs")


def test_sample_indices_cover_classes_first(glyphs):
    chosen = sample_indices(glyphs, len(glyphs.classnames), seed=3)
    assert sorted(glyphs.targets[i] for i in chosen) == list(range(len(glyphs.classnames)))
    assert sample_indices(glyphs, 5, seed=3) == sample_indices(glyphs, 5, seed=3)


def test_preview_captions_builds_the_prompt_and_times_each_caption(glyphs, captioner):
    samples = preview_captions(glyphs, [0, 1], captioner, "shape", words=20, domain="road signs", class_name="zebra")
    assert [s.index for s in samples] == [0, 1] and all(s.image is not None for s in samples)
    for n, s in enumerate(samples):
        assert "this zebra photo from other road signs photos" in s.prompt and "in 20 words" in s.prompt
        assert s.caption == f"shape caption {n} of a zebra with round edges" and s.words == 9 and s.seconds >= 0


def test_caption_preview_has_the_same_samples_per_characteristic_and_a_summary(glyphs, captioner):
    preview = caption_preview(glyphs, captioner, ["visual", "shape"], samples=3)
    assert list(preview.samples) == ["visual", "shape"] and all(len(v) == 3 for v in preview.samples.values())
    assert [s.index for s in preview.samples["visual"]] == [s.index for s in preview.samples["shape"]]
    summary = {row["characteristic"]: row for row in preview.summary}
    assert set(summary) == {"visual", "shape", "all"} and summary["all"]["captions"] == 6
    assert summary["all"]["class_name_rate"] == 1.0  # every fake caption names its class
    assert summary["shape"]["characteristic_word_rate"] == 1.0  # "round", "edges" are shape words
    assert summary["visual"]["characteristic_word_rate"] == 0.0
    assert summary["all"]["seconds_per_caption"] >= 0 and "primary visual" in preview.prompt


def test_caption_statistics_counts_words_vocabulary_and_mentions():
    records = [
        CaptionRecord(0, "pry_sigil", "shape", "A pry sigil with three corners"),
        CaptionRecord(1, "vorn", "shape", "red and blue"),
        CaptionRecord(0, "pry_sigil", "texture", "a striped surface"),
    ]
    rows = {r["characteristic"]: r for r in caption_statistics(records, clip_scores=[0.2, 0.4, 0.9])}
    assert rows["shape"]["captions"] == 2 and rows["shape"]["mean_words"] == 4.5
    assert rows["shape"]["median_words"] == 4.5 and rows["shape"]["class_name_rate"] == 0.5
    assert rows["shape"]["characteristic_word_rate"] == 0.5 and rows["texture"]["characteristic_word_rate"] == 1.0
    assert rows["all"]["vocabulary"] == 11 and rows["all"]["clip_score"] == pytest.approx(0.5)
    assert rows["shape"]["clip_score"] == pytest.approx(0.3)
    with pytest.raises(InvalidInputError):
        caption_statistics(records, clip_scores=[0.1])


def test_caption_records_follow_the_characteristics_order(glyphs):
    records = caption_records(glyphs, [["v0", "s0"], ["v1", "s1"]], ["visual", "shape"])
    assert [(r.index, r.characteristic, r.caption) for r in records] == \
        [(0, "visual", "v0"), (0, "shape", "s0"), (1, "visual", "v1"), (1, "shape", "s1")]
    assert records[0].class_name == glyphs.classnames[glyphs.targets[0]]


def test_mentions_class_needs_whole_words():
    assert mentions_class("a photo of a pry sigil", "pry_sigil")
    assert not mentions_class("a vornish sign", "vorn")
