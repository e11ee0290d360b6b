"""The captioner's training corpus: real-looking captions that follow the prompt (no model involved)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

from mmft_kit.captions.prompts import load_library
from mmft_kit.captions.statistics import (
    category_forms, characteristic_words, mentions_class, realism_share, realism_statistics, realism_table,
    sentences_of, words_of,
)
from mmft_kit.data.tasks import WORLD_TASKS
from mmft_kit.data.world import sample_attributes
from mmft_kit.embedded.caption_corpus import CHARACTERISTICS, category_word, word_count, write_caption

Record = namedtuple("Record", "class_name characteristic caption")


def _corpus_sample(words: int = 50, per_class: int = 6) -> tuple[list[Record], set[str]]:
    rng = np.random.default_rng(0)
    records, categories = [], set()
    for task in WORLD_TASKS.values():
        categories |= category_forms(task.domain)
        for label, name in enumerate(task.classes):
            for _ in range(per_class):
                attrs = task.sample(label, rng)
                for characteristic in ("visual", "shape", "texture"):
                    caption = write_caption(attrs, characteristic, words, rng, name.replace("_", " ").replace("-", " "),
                                            task.domain)
                    records.append(Record(name, characteristic, caption))
    return records, categories


def test_corpus_captions_lie_inside_the_real_bands():
    records, categories = _corpus_sample()
    shares = realism_share(realism_table(realism_statistics(records, categories, token_count=lambda t: 0)))
    assert min(shares.values()) >= 0.85, shares


@pytest.mark.parametrize("words", [5, 10, 25, 50, 80, 120])
def test_length_follows_the_budget(words):
    rng = np.random.default_rng(words)
    lengths = [word_count(write_caption(sample_attributes(rng), c, words, rng, "vorn", "glyph signs"))
               for c in ("visual", "shape", "texture") for _ in range(60)]
    assert abs(np.mean(lengths) / words - 1) <= (0.3 if words >= 25 else 0.5), np.mean(lengths)


def test_class_name_and_category_come_from_the_prompt_in_the_first_sentence():
    rng = np.random.default_rng(1)
    attrs = [sample_attributes(rng) for _ in range(200)]
    captions = [write_caption(a, "shape", 50, rng, "quell", "badges") for a in attrs]
    first = [sentences_of(c)[0] for c in captions]
    assert 0.8 <= np.mean([mentions_class(s, "quell") for s in first]) <= 0.99
    assert 0.35 <= np.mean([bool(set(words_of(c)) & {"badge", "badges"}) for c in captions]) <= 0.95
    wrong = [write_caption(a, "shape", 50, np.random.default_rng(i), "talis", "badges") for i, a in enumerate(attrs)]
    assert not any(mentions_class(c, "quell") for c in wrong)
    assert np.mean([mentions_class(c, "talis") for c in wrong]) >= 0.8
    unnamed = [write_caption(a, "shape", 50, rng, None, "badges") for a in attrs[:50]]
    assert all(sentences_of(c)[0].startswith(("This badge", "The badge")) for c in unnamed)


def test_every_library_characteristic_gets_captions_about_it_and_unknown_ones_a_general_caption():
    rng = np.random.default_rng(2)
    extra = {"petals": {"petal", "petals"}, "symbols": {"symbol", "sign", "mark"},
             "context": {"background", "backdrop", "setting"}, "spatial": {"frame", "left", "right", "centre"}}
    for characteristic in [*load_library().characteristics, *CHARACTERISTICS]:
        vocabulary = (characteristic_words(characteristic) or frozenset()) | extra.get(characteristic, set())
        captions = [write_caption(sample_attributes(rng), characteristic, 40, rng, "vorn", "glyph signs")
                    for _ in range(50)]
        assert np.mean([bool(set(words_of(c)) & vocabulary) for c in captions]) >= 0.9, characteristic
    general = write_caption(sample_attributes(rng), "smell", 40, rng, "vorn", "glyph signs")
    assert word_count(general) >= 20 and general.endswith(".")


def test_template_bug_is_gone_and_sentences_are_capitalised():
    rng = np.random.default_rng(3)
    for _ in range(500):
        caption = write_caption(sample_attributes(rng), "texture", int(rng.integers(5, 121)), rng, "tesk", "tiles")
        assert " a with " not in caption and " a a " not in caption and " an with " not in caption, caption
        assert all(s[0].isupper() and s.endswith(".") for s in sentences_of(caption)), caption


def test_category_word_is_the_domain_noun():
    assert category_word("glyph signs") == "sign"
    assert category_word("critters") == "critter"
    assert category_word(None) == "figure"


def test_phrasing_follows_the_image_not_the_random_generator():
    """The same image gets the same caption whatever the generator (so a model sampled at a low temperature
    can learn it), and images of one class that differ only in what the phrasing follows get different ones."""
    from dataclasses import replace

    from mmft_kit.embedded.caption_corpus import hedged

    rng = np.random.default_rng(4)
    attrs = [sample_attributes(rng) for _ in range(200)]
    for a in attrs[:20]:
        first = write_caption(a, "visual", 50, np.random.default_rng(0), "vorn", "glyph signs", errors=False)
        assert first == write_caption(a, "visual", 50, np.random.default_rng(1), "vorn", "glyph signs", errors=False)
    base = attrs[0]
    variants = {write_caption(replace(base, background=b, spots=s), "texture", 50, rng, "vorn", "glyph signs",
                              errors=False) for b in ("black", "white", "grey", "teal") for s in ("zero", "two")}
    assert len(variants) == 8
    hedges = [hedged(a) for a in attrs]
    captions = [write_caption(a, "shape", 50, rng, "vorn", "glyph signs", errors=False) for a in attrs]
    assert 0.03 <= np.mean(hedges) <= 0.12
    assert all(bool(set(words_of(c)) & {"likely", "probably"}) == h for c, h in zip(captions, hedges))
