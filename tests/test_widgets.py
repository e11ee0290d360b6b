"""Widget callbacks without a browser or a kernel: set a control's value, check that the preview changed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmft_kit import widgets
from mmft_kit.captions.preview import CaptionPreview
from mmft_kit.data import get_dataset
from mmft_kit.embeddings import EmbeddingView
from mmft_kit.notebook.params import PromptDesign


@pytest.fixture
def designer(tmp_path, captioner):
    return widgets.prompt_designer(captioner, PromptDesign(dataset="glyphs", samples=2),
                                   save_to=tmp_path / "template.txt")


def test_designer_shows_captions_on_start(designer):
    preview = designer.result
    assert designer.error is None and designer.renders == 1
    assert isinstance(preview, CaptionPreview) and len(preview.samples["visual"]) == 2
    assert "in 50 words" in preview.prompt and "glyph signs photos" in preview.prompt


def test_changing_words_and_characteristic_re_captions(designer):
    designer.controls["words"].value = 20
    assert designer.renders == 2 and "in 20 words" in designer.result.prompt
    designer.controls["characteristic"].value = "shape"
    samples = designer.result.samples["shape"]
    assert all(s.caption.startswith("shape caption") for s in samples)
    assert "primary shape characteristics" in designer.result.prompt


def test_domain_and_class_override_the_prompt(designer):
    designer.controls["domain"].value = "road signs"
    designer.controls["class_name"].value = "zebra"
    assert all(s.class_name == "zebra" and "from other road signs photos" in s.prompt
               for s in designer.result.samples["visual"])
    designer.controls["class_name"].value = ""  # blank: each image's own class again
    assert {s.class_name for s in designer.result.samples["visual"]} <= set(get_dataset("glyphs").classnames)


def test_a_bad_template_shows_an_error_and_a_good_one_recovers(designer):
    designer.controls["template"].value = "Describe the {colour} of this {class_name}."
    assert designer.result is None and "unknown placeholder" in designer.error
    designer.controls["template"].value = "Say what this {class_name} looks like in {words} words."
    assert designer.error is None
    assert designer.result.prompt.startswith("Say what this ") and "in 50 words" in designer.result.prompt


def test_switching_data_set_updates_classes_and_samples(designer):
    critters = get_dataset("critters")
    designer.controls["dataset"].value = "critters"
    assert list(designer.controls["class_name"].options) == critters.classnames
    assert {s.class_name for s in designer.result.samples["visual"]} <= set(critters.classnames)
    assert "critters photos" in designer.result.prompt


def test_samples_slider_changes_the_number_of_images(designer):
    designer.controls["samples"].value = 3
    assert len(designer.result.samples["visual"]) == 3
    shown = widgets.show_preview(designer.result)
    assert len([ax for ax in shown[1].axes if ax.images]) == 3 and "in 50 words" in shown[0].data


def test_save_button_writes_the_edited_template(designer, tmp_path):
    designer.controls["template"].value = "Tell me about this {class_name} ({characteristic})."
    designer.extras[0].children[0].click()
    assert (tmp_path / "template.txt").read_text() == "Tell me about this {class_name} ({characteristic}).\n"
    assert "saved to" in designer.extras[0].children[1].value


def test_caption_browser_steps_through_images():
    glyphs = get_dataset("glyphs")
    browser = widgets.caption_browser(glyphs, [5, 9], [{"visual": "first"}, {"visual": "second", "shape": "x"}])
    title = [ax.get_title() for ax in browser.result.axes if ax.images][0]
    assert title.startswith("#5:")
    browser.controls["position"].value = 1
    texts = [t.get_text() for ax in browser.result.axes for t in ax.texts]
    assert [ax.get_title() for ax in browser.result.axes if ax.images][0].startswith("#9:")
    assert any("[visual] second" in t and "[shape] x" in t for t in texts)


def test_class_picker_redraws_only_the_chosen_classes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    points = rng.normal(size=(30, 6)) + np.eye(3, 6)[labels] * 4
    view = EmbeddingView(points, labels, points[:0], labels[:0], np.eye(3, 6))
    picker = widgets.class_picker({"before": view}, ["a", "b", "c"], ["pca", "tsne"])

    def drawn():
        return sum(len(c.get_offsets()) for ax in picker.result.axes for c in ax.collections)

    assert drawn() == 30 + 3
    picker.controls["classes"].value = ("a", "b")
    assert drawn() == 20 + 2
    picker.controls["method"].value = "tsne"
    assert picker.result.get_suptitle().startswith("TSNE")
    picker.controls["classes"].value = ()
    assert picker.result is None and "at least one class" in picker.error


def test_choice_preview_renders_the_chosen_option():
    seen = []
    preview = widgets.choice_preview(["a", "b"], lambda option: seen.append(option) or option.upper())
    preview.controls["option"].value = "b"
    assert seen == ["a", "b"] and preview.result == "B"
    opened = widgets.choice_preview(["a", "b", "c"], str.upper, value="c")  # 03 opens on the best method
    assert opened.controls["option"].value == "c" and opened.result == "C"


def test_gate_explorer_follows_k_and_the_samples():
    from mmft_kit.pare import build_pare_model, task_from_arrays, tiny_vit, world_source

    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 3, 16, 16)).astype(np.float32), rng.integers(0, 2, 30)
    task = task_from_arrays(x[:24], y[:24], x[24:], y[24:], "classification", x_val=x[:10], y_val=y[:10])
    source = world_source(count=12, image_size=32)
    model = build_pare_model(task, body=tiny_vit(width=32, layers=1), source_images=source.images,
                             source_classes=source.num_classes)
    explorer = widgets.gate_explorer(model, task, source, k=4, count=2)
    assert explorer.result.k == 4 and "k = 4" in explorer.draw(explorer.result)[0].get_suptitle()
    explorer.controls["k"].value = 7
    assert explorer.result.k == 7 and explorer.result.replaced.sum(dim=1).tolist() == [7, 7]
    assert sum(len(ax.patches) for ax in explorer.draw(explorer.result)[0].axes) == 2 * 2 * 7
    before = explorer.result.sources.clone()
    explorer.controls["start"].value = 3
    assert not torch.equal(explorer.result.sources, before) and explorer.renders == 3


def test_sliders_span_the_declared_ranges(designer):
    from mmft_kit.params.base import bounds

    for name in ("words", "samples"):
        slider = designer.controls[name]
        assert (slider.min, slider.max) == bounds(PromptDesign, name)
    assert bounds(PromptDesign, "words") == (1, 500)


def test_the_designer_scores_each_edited_prompt_onto_a_leaderboard(tmp_path, captioner, monkeypatch):
    from mmft_kit.params.prompts import PromptScoreParams
    from mmft_kit.train.prompt_score import Leaderboard

    monkeypatch.setenv("MMFT_KIT_CACHE", str(tmp_path / "cache"))  # this test's own caption stores
    board = Leaderboard()
    params = PromptDesign(dataset="glyphs", samples=2)
    designer = widgets.prompt_designer(captioner, params, leaderboard=board,
                                       score_params=PromptScoreParams.take(params, clip="embedded:ci", shots=1,
                                                                           draws=2))
    assert designer.error is None and len(board) == 1
    designer.controls["template"].value = "Describe this {domain} photo in {words} words."
    rows = board.rows()
    assert len(rows) == 2 and [r["rank"] for r in rows] == [1, 2] and rows[0]["score"] >= rows[1]["score"]
    classless = next(r for r in rows if r["template"].startswith("Describe"))
    assert "no {class_name}" in classless["notices"] and classless["draws"] == 2
    designer.controls["template"].value = "Describe {colour}."
    assert "unknown placeholder" in designer.error and len(board) == 2  # refused, nothing scored
