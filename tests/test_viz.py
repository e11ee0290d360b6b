"""Figures and the numbers they show: tables, caption previews and statistics, CLIP scores, training
plots, projections and separation, and PaRe's gate view — on small synthetic inputs."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

from mmft_kit import viz  # noqa: E402
from mmft_kit.captions.backends import Captioner  # noqa: E402
from mmft_kit.data import get_dataset  # noqa: E402
from mmft_kit.errors import InvalidInputError  # noqa: E402


class PromptEcho(Captioner):
    """Writes "<characteristic> caption of <class>" from the prompt: deterministic and instant."""

    name, batch_size = "echo", 8

    @property
    def settings(self):
        return {"backend": "test", "model": "echo"}

    def caption(self, images, prompts, classnames=None):
        out = []
        for prompt in prompts:
            found = re.search(r"this (.+?) photo .* primary (\w+) characteristics", prompt)
            out.append(f"{found.group(2)} caption of a {found.group(1)} with round edges")
        return out


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def glyphs():
    return get_dataset("glyphs")


# -- tables ----------------------------------------------------------------------------------
def test_markdown_table_formats_floats_and_escapes_pipes():
    text = viz.markdown_table([{"a": 0.12345, "b": "x|y"}, {"a": 2, "c": None}])
    lines = text.splitlines()
    assert lines[0] == "| a | b | c |" and lines[1] == "|---|---|---|"
    assert lines[2] == "| 0.123 | x\\|y |  |" and lines[3] == "| 2 |  |  |"


def test_aggregate_means_and_spreads_per_group():
    rows = [{"m": "a", "acc": 0.5}, {"m": "b", "acc": 1.0}, {"m": "a", "acc": 0.7}]
    out = viz.aggregate(rows, "m", ["acc"])
    assert [r["m"] for r in out] == ["a", "b"]
    assert out[0]["runs"] == 2 and out[0]["acc"] == pytest.approx(0.6) and out[0]["acc_std"] == pytest.approx(0.1)
    assert out[1]["acc_std"] == 0.0


# -- images and captions ---------------------------------------------------------------------
def test_sample_indices_cover_classes_first(glyphs):
    chosen = viz.sample_indices(glyphs, len(glyphs.classnames), seed=3)
    assert sorted(glyphs.targets[i] for i in chosen) == list(range(len(glyphs.classnames)))
    assert viz.sample_indices(glyphs, 5, seed=3) == viz.sample_indices(glyphs, 5, seed=3)


def test_as_picture_converts_tensors_and_images():
    assert viz.as_picture(Image.new("RGB", (4, 5))).shape == (5, 4, 3)
    normalised = viz.as_picture(torch.randn(3, 6, 7))
    assert normalised.shape == (6, 7, 3) and normalised.min() == 0.0 and normalised.max() == 1.0
    assert viz.as_picture(torch.randn(8, 6, 7)).shape == (6, 7)  # many channels: their mean, in grey


def test_caption_grid_draws_every_image_with_its_text():
    figure = viz.caption_grid([np.zeros((8, 8, 3), np.uint8)] * 5, [f"text {i}" for i in range(5)], ncols=3)
    shown = [ax for ax in figure.axes if ax.images]
    assert len(shown) == 5 and len(figure.axes) == 6
    assert {t.get_text() for ax in shown for t in ax.texts} == {f"text {i}" for i in range(5)}
    with pytest.raises(InvalidInputError):
        viz.caption_grid([np.zeros((8, 8, 3), np.uint8)], ["a", "b"])


def test_preview_captions_builds_the_prompt_and_times_each_caption(glyphs):
    samples = viz.preview_captions(glyphs, [0, 1], PromptEcho(), "shape", words=20, domain="road signs",
                                   class_name="zebra")
    assert [s.index for s in samples] == [0, 1]
    for s in samples:
        assert "this zebra photo from other road signs photos" in s.prompt and "in 20 words" in s.prompt
        assert s.caption == "shape caption of a zebra with round edges" and s.words == 8 and s.seconds >= 0


def test_caption_preview_has_a_row_per_characteristic_and_a_summary(glyphs):
    preview = viz.caption_preview(glyphs, PromptEcho(), ["visual", "shape"], samples=3)
    assert list(preview.samples) == ["visual", "shape"] and all(len(v) == 3 for v in preview.samples.values())
    assert len([ax for ax in preview.figure.axes if ax.images]) == 6
    summary = {row["characteristic"]: row for row in preview.summary}
    assert set(summary) == {"visual", "shape", "all"} and summary["all"]["captions"] == 6
    assert summary["all"]["class_name_rate"] == 1.0  # every echo caption names its class
    assert summary["shape"]["characteristic_word_rate"] == 1.0  # "round", "edges" are shape words
    assert summary["visual"]["characteristic_word_rate"] == 0.0
    assert summary["all"]["seconds_per_caption"] >= 0


def test_caption_statistics_counts_words_vocabulary_and_mentions():
    records = [
        viz.CaptionRecord(0, "pry_sigil", "shape", "A pry sigil with three corners"),
        viz.CaptionRecord(1, "vorn", "shape", "red and blue"),
        viz.CaptionRecord(0, "pry_sigil", "texture", "a striped surface"),
    ]
    rows = {r["characteristic"]: r for r in viz.caption_statistics(records, clip_scores=[0.2, 0.4, 0.9])}
    assert rows["shape"]["captions"] == 2 and rows["shape"]["mean_words"] == 4.5
    assert rows["shape"]["median_words"] == 4.5 and rows["shape"]["class_name_rate"] == 0.5
    assert rows["shape"]["characteristic_word_rate"] == 0.5 and rows["texture"]["characteristic_word_rate"] == 1.0
    assert rows["all"]["vocabulary"] == 11 and rows["all"]["clip_score"] == pytest.approx(0.5)
    assert rows["shape"]["clip_score"] == pytest.approx(0.3)
    with pytest.raises(InvalidInputError):
        viz.caption_statistics(records, clip_scores=[0.1])


def test_caption_records_follow_the_characteristics_order(glyphs):
    records = viz.caption_records(glyphs, [["v0", "s0"], ["v1", "s1"]], ["visual", "shape"])
    assert [(r.index, r.characteristic, r.caption) for r in records] == \
        [(0, "visual", "v0"), (0, "shape", "s0"), (1, "visual", "v1"), (1, "shape", "s1")]
    assert records[0].class_name == glyphs.classnames[glyphs.targets[0]]


def test_mentions_class_needs_whole_words():
    assert viz.mentions_class("a photo of a pry sigil", "pry_sigil")
    assert not viz.mentions_class("a vornish sign", "vorn")


class ColourCLIP(nn.Module):
    """Image features: mean RGB; text features: one-hot of the colour word. Matched pairs agree."""

    def __init__(self):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(0.0))

    def encode_image(self, images):
        return images.mean(dim=(2, 3))

    def encode_text(self, tokens):
        return torch.nn.functional.one_hot(tokens[:, 0], 3).float()


def test_clip_scores_rank_own_captions_above_shuffled_ones():
    colours = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
    images = [Image.new("RGB", (4, 4), rgb) for rgb in colours.values()]

    def tokenizer(texts):
        return torch.tensor([[list(colours).index(t)] for t in texts])

    def preprocess(image):
        return torch.tensor(np.array(image), dtype=torch.float32).permute(2, 0, 1) / 255

    matched, shuffled = viz.clip_scores(ColourCLIP(), preprocess, tokenizer, images, list(colours))
    assert np.allclose(matched, 1.0) and np.allclose(shuffled, 0.0)
    figure = viz.caption_figure([viz.CaptionRecord(i, "c", "visual", c) for i, c in enumerate(colours)],
                                matched, shuffled)
    assert len(figure.axes) == 3


# -- training ----------------------------------------------------------------------------------
def test_learning_curves_plot_loss_and_validated_epochs():
    history = [{"epoch": 1, "loss": 2.0, "val_accuracy": 0.3}, {"epoch": 2, "loss": 1.0, "val_accuracy": None},
               {"epoch": 3, "loss": 0.5, "val_accuracy": 0.6}]
    figure = viz.learning_curves({"a": history, "empty": []})
    loss_ax, val_ax = figure.axes
    assert list(loss_ax.lines[0].get_ydata()) == [2.0, 1.0, 0.5]
    assert list(val_ax.lines[0].get_xdata()) == [1, 3] and len(val_ax.lines) == 1


def test_accuracy_figure_bars_are_means():
    rows = [{"method": "a", "test_accuracy": 0.4}, {"method": "a", "test_accuracy": 0.6},
            {"method": "b", "test_accuracy": 0.9}]
    figure = viz.accuracy_figure(rows, reference=0.2)
    heights = [bar.get_height() for bar in figure.axes[0].patches]
    assert heights == pytest.approx([0.5, 0.9])


def test_confusion_figure_is_row_normalised():
    figure = viz.confusion_figure([0, 0, 1, 1], [0, 1, 1, 1], ["x", "y"])
    matrix = figure.axes[0].images[0].get_array()
    assert np.allclose(matrix, [[0.5, 0.5], [0.0, 1.0]])


# -- embeddings ----------------------------------------------------------------------------------
def _clusters(separated: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 8) * (5.0 if separated else 0.0)
    labels = np.repeat(np.arange(3), 20)
    points = centres[labels] + rng.normal(size=(60, 8))
    return points / np.linalg.norm(points, axis=1, keepdims=True), labels


def test_separation_score_tells_separated_from_mixed_classes():
    assert viz.separation_score(*_clusters(True)) > 0.5
    assert abs(viz.separation_score(*_clusters(False))) < 0.1
    with pytest.raises(InvalidInputError):
        viz.separation_score(np.ones((4, 2)), np.zeros(4))


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_project_gives_two_coordinates_per_point(method):
    points, _ = _clusters(True)
    assert viz.project(points, method).shape == (60, 2)


def test_project_rejects_unknown_methods_and_umap_is_optional():
    with pytest.raises(InvalidInputError):
        viz.project(np.ones((5, 3)), "mds")
    assert set(viz.available_projections(["pca", "umap"])) <= {"pca", "umap"}
    assert "pca" in viz.available_projections(["pca", "umap"])


def test_embedding_figure_draws_selected_classes_with_prototypes():
    points, labels = _clusters(True)
    view = viz.EmbeddingView(points, labels, points[::4], labels[::4], np.eye(3, 8))
    figure = viz.embedding_figure({"before": view, "after": view}, ["a", "b", "c"], "pca", classes=["a", "c"])
    panels = [ax for ax in figure.axes if ax.collections]
    assert len(panels) == 2 and "silhouette" in panels[0].get_title()
    drawn = sum(len(c.get_offsets()) for c in panels[0].collections)
    assert drawn == 40 + 10 + 2  # images and texts of two classes, and their prototypes
    with pytest.raises(InvalidInputError):
        viz.embedding_figure({"v": view}, ["a", "b", "c"], classes=[])


# -- PaRe ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pare_model():
    from mmft_kit.pare import build_pare_model, task_from_arrays, tiny_vit, world_source

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3, 16, 16)).astype(np.float32), rng.integers(0, 2, 40)
    task = task_from_arrays(x[:30], y[:30], x[30:], y[30:], "classification")
    source = world_source(count=16, image_size=32)
    model = build_pare_model(task, body=tiny_vit(width=32, layers=1), source_images=source.images,
                             source_classes=source.num_classes)
    return model, task, source


def test_gate_view_marks_k_slots_and_k_patches(pare_model):
    model, task, source = pare_model
    view = viz.gate_view(model, task, source, k=5, count=3)
    assert view.k == 5 and view.targets.shape[0] == 3
    assert view.replaced.sum(dim=1).tolist() == [5, 5, 5] and view.taken.sum(dim=1).tolist() == [5, 5, 5]
    for i in range(3):  # the replaced target slots are the lowest scored, the taken source patches the highest
        replaced = view.target_scores[i][view.replaced[i] > 0.5]
        kept = view.target_scores[i][view.replaced[i] < 0.5]
        assert replaced.max() <= kept.min()
    assert viz.gate_view(model, task, source, k=10_000).k == min(model.embedder.num_tokens,
                                                                 model.source_embedder.num_tokens)
    figure = viz.gate_figure(view)
    outlined = sum(len(ax.patches) for ax in figure.axes)
    assert outlined == 2 * 3 * 5


def test_pare_curves_draw_lambda_only_for_runs_that_replace():
    from mmft_kit.pare import EpochLog

    def result(ks):
        history = [EpochLog(e, k, k / 16, e == 0, 1.0 / (e + 1), 0.5, 0.1) for e, k in enumerate(ks)]
        return type("Run", (), {"history": history, "metric": "1-accuracy"})()

    figure = viz.pare_curves({"pare": result([10, 8, 6]), "finetune": result([0, 0, 0])})
    lam_ax, loss_ax, val_ax = figure.axes
    assert len(lam_ax.lines) == 1 and list(lam_ax.lines[0].get_ydata()) == pytest.approx([10 / 16, 0.5, 6 / 16])
    assert len(loss_ax.lines) == 2 and "1-accuracy" in val_ax.get_title()
