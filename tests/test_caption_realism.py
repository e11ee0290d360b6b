"""Caption realism statistics (CALIBRATION.md section 3) on a fixed sample, and the benchmark script's readers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from mmft_kit.captions.statistics import (
    REALISM_BANDS, length_following, read_caption_texts, realism_share, realism_statistics, realism_table,
    sentences_of, words_of,
)
from mmft_kit.errors import InvalidInputError

#: A fixed sample in the MMFT authors' format (image file name → caption), shape captions of two classes.
AUTHORS_SAMPLE = {
    "Bombay_113.jpg": "This Bombay cat exhibits a sleek, muscular build. Its body is elongated, with a black coat. "
                      "It likely rests on a sofa.",
    "Bombay_114.jpg": "This Bombay cat has a rounded head and pointed ears. The tail appears long.",
    "beagle_135.jpg": "This beagle exhibits a compact, sturdy build with a rounded head and floppy ears.",
    "beagle_136.jpg": "The dog has long ears and a brown and white coat on green grass. Its legs are short.",
}


def _benchmark():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "caption_realism.py"
    spec = importlib.util.spec_from_file_location("caption_realism", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def authors_file(tmp_path) -> Path:
    path = tmp_path / "ShapeCaption.json"
    path.write_text(json.dumps(AUTHORS_SAMPLE))
    return path


def test_authors_format_reads_class_and_characteristic_from_the_file_names(authors_file):
    texts = read_caption_texts(authors_file)
    assert [t.class_name for t in texts] == ["Bombay", "Bombay", "beagle", "beagle"]
    assert {t.characteristic for t in texts} == {"shape"}
    assert read_caption_texts(authors_file, characteristic="visual")[0].characteristic == "visual"


def test_kit_store_is_read_with_its_classes_and_characteristics(tmp_path):
    store = tmp_path / "store.jsonl"
    store.write_text("\n".join(json.dumps(r) for r in [
        {"format": "mmft_kit.captions/1", "settings": {}},
        {"image": "a", "class": "vorn", "characteristic": "texture", "prompt": "p", "caption": "A striped vorn."},
    ]) + "\n")
    assert read_caption_texts(store)[0] == ("vorn", "texture", "A striped vorn.")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="JSON object"):
        read_caption_texts(tmp_path / "bad.json")


def test_statistics_give_the_documented_figures_on_the_fixed_sample(authors_file):
    stats = realism_statistics(read_caption_texts(authors_file), category_words={"cat", "dog"},
                               token_count=lambda text: len(text.split()) + 2)["shape"]
    assert stats["captions"] == 4
    assert stats["mean_words"] == pytest.approx((22 + 14 + 14 + 18) / 4)
    assert stats["sentences"] == pytest.approx((3 + 2 + 1 + 2) / 4)
    assert stats["capitalised"] == 1.0
    assert stats["class_name"] == 0.75 and stats["class_in_first_sentence"] == 0.75
    assert stats["category_word"] == 0.75  # cat, cat, -, dog
    assert stats["colour_words"] == 0.5  # black; brown, white, green
    assert stats["texture_adjectives"] == 0.25  # sleek
    assert stats["scene_shape"] == 0.5  # sofa; grass
    assert stats["hedges"] == 0.25 and stats["appears"] == 0.25  # likely; appears
    assert stats["distinct"] == 1.0 and stats["refusals"] == 0.0 and stats["clip_over_77"] == 0.0
    sets = [set(words_of(c)) for c in AUTHORS_SAMPLE.values()]
    jaccard = {(i, j): len(sets[i] & sets[j]) / len(sets[i] | sets[j]) for i in range(4) for j in range(4)}
    assert stats["jaccard_within_class"] == pytest.approx((jaccard[0, 1] + jaccard[2, 3]) / 2, abs=0.02)
    across = [jaccard[i, j] for i in (0, 1) for j in (2, 3)]
    assert stats["jaccard_across_classes"] == pytest.approx(sum(across) / 4, abs=0.02)


def test_table_puts_each_statistic_beside_its_band():
    stats = {"shape": {"mean_words": 44.0, "hedges": 0.2}}
    rows = {r["statistic"]: r for r in realism_table(stats)}
    assert rows["mean_words"]["inside"] and not rows["hedges"]["inside"]
    assert "scene_visual" not in rows and "scene_shape" in rows  # bands apply to their characteristics
    assert realism_share(realism_table(stats)) == {"shape": 0.5}
    assert set(REALISM_BANDS) >= {"mean_words", "distinct", "jaccard_within_class", "appears_texture"}


def test_sentences_and_length_following():
    assert sentences_of("One. Two! Three?") == ["One.", "Two!", "Three?"]
    follow = length_following({5: 4.0, 25: 20.0, 50: 45.0, 120: 100.0})
    assert follow["monotone"] and follow["within"] and follow["worst_ratio"] == pytest.approx(0.8)
    assert not length_following({5: 30.0, 50: 20.0})["monotone"]


def test_benchmark_script_measures_caption_files(authors_file, capsys):
    _benchmark().main(["--captions", str(authors_file), "--category", "cat", "dog"])
    out = capsys.readouterr().out
    assert "| shape | mean_words | 17.000 | 40–48 | NO |" in out
    assert out.strip().splitlines()[-1].startswith("Inside their band: shape")
