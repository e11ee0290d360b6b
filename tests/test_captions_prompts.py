"""Caption prompts: the paper's text, class-name cleaning, templates as editable data."""

from __future__ import annotations

import json

import pytest

from mmft_kit.captions import build_prompt, default_characteristics, load_library, resolve_template
from mmft_kit.captions.prompts import TEMPLATES_FILE
from mmft_kit.errors import InvalidInputError

PAPER = (
    "To differentiate this {class_name} photo from other {domain} photos, describe its primary "
    "{characteristic} characteristics based on the photo in {words} words."
)


def test_build_prompt_is_the_papers_text():
    assert build_prompt("Abyssinian", "pets") == (
        "To differentiate this abyssinian photo from other pets photos, describe its primary visual "
        "characteristics based on the photo in 50 words."
    )
    assert build_prompt("Pry_Sigil", "glyph signs", "texture", 30) == (
        "To differentiate this pry sigil photo from other glyph signs photos, describe its primary texture "
        "characteristics based on the photo in 30 words."
    )


@pytest.mark.parametrize("raw, clean", [("Dune-Hopper", "dune hopper"), ("marsh_vell", "marsh vell"),
                                        ("Black_footed_Albatross", "black footed albatross")])
def test_class_names_are_cleaned(raw, clean):
    assert build_prompt(raw, "birds", "shape").startswith(f"To differentiate this {clean} photo from other birds")


def test_templates_and_characteristics_come_from_the_data_file():
    data = json.loads(TEMPLATES_FILE.read_text())
    library = load_library()
    assert library.template() == data["templates"][data["default_template"]] == PAPER
    assert default_characteristics() == ("visual", "shape", "texture")
    assert {"context", "spatial", "petals", "color", "symbols"} <= set(library.characteristics)
    assert resolve_template("differentiate") == PAPER


def test_custom_template_string_and_files(tmp_path):
    custom = "Describe the {characteristic} of this {class_name} ({domain}) in {words} words."
    assert build_prompt("Vorn", "glyphs", "shape", 20, template=custom) == (
        "Describe the shape of this vorn (glyphs) in 20 words."
    )
    text_file = tmp_path / "mine.txt"
    text_file.write_text(custom + "\n")
    assert resolve_template(text_file) == resolve_template(str(text_file)) == custom
    library_file = tmp_path / "lib.json"
    library_file.write_text(json.dumps({"templates": {"short": custom, "long": PAPER}, "default_template": "short",
                                        "default_characteristics": ["colour"]}))
    assert resolve_template(library_file) == custom
    assert load_library(library_file).default_characteristics == ("colour",)
    yaml_file = tmp_path / "lib.yaml"
    yaml_file.write_text(f"templates:\n  only: '{custom}'\n")
    assert resolve_template(yaml_file) == custom
    # an edited library file is read again
    library_file.write_text(json.dumps({"templates": {"long": PAPER}}))
    assert resolve_template(library_file) == PAPER


@pytest.mark.parametrize("bad", ["Describe {colour} things.", "no placeholders here", "{} photo", "{class_name"])
def test_bad_templates_are_refused(bad):
    with pytest.raises(InvalidInputError):
        build_prompt("vorn", "glyphs", template=bad)


def test_bad_words_are_refused():
    for words in (0, -5, 2.5):
        with pytest.raises(InvalidInputError, match="words"):
            build_prompt("vorn", "glyphs", words=words)
