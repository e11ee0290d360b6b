"""Plots: data in, figure out — captions, training, embeddings and PaRe on small synthetic inputs; and the
package imports nothing that loads or runs a model."""

from __future__ import annotations

import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from mmft_kit import viz
from mmft_kit.captions.preview import caption_preview
from mmft_kit.captions.statistics import CaptionRecord, caption_statistics
from mmft_kit.data import get_dataset
from mmft_kit.embeddings import EmbeddingView
from mmft_kit.errors import InvalidInputError


def test_viz_imports_nothing_that_runs_a_model():
    code = ("import sys, mmft_kit.viz; print(sorted(m for m in sys.modules if m.startswith(("
            "'mmft_kit.train', 'mmft_kit.models', 'mmft_kit.captions', 'mmft_kit.pare', 'mmft_kit.inference', "
            "'mmft_kit.zoo', 'open_clip', 'transformers'))))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def glyphs():
    return get_dataset("glyphs")


# -- images and captions ---------------------------------------------------------------------
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


def test_preview_figure_has_a_row_per_characteristic(glyphs, captioner):
    preview = caption_preview(glyphs, captioner, ["visual", "shape"], samples=3)
    figure = viz.preview_figure(preview)
    drawn = [ax for ax in figure.axes if ax.images]
    assert len(drawn) == 6 and drawn[0].get_title() == preview.samples["visual"][0].class_name
    assert "(9 words," in drawn[3].texts[0].get_text()


def test_caption_figure_draws_lengths_mentions_and_scores():
    records = [CaptionRecord(i, "c", "visual", text) for i, text in enumerate(["red", "green", "blue glyph"])]
    figure = viz.caption_figure(records, caption_statistics(records), [0.9, 0.8, 0.7], [0.1, 0.2, 0.3])
    lengths, mentions, scores = figure.axes
    assert sum(p.get_height() for p in lengths.patches) == 3 and len(mentions.patches) == 2
    assert "0.800" in scores.get_legend().get_texts()[0].get_text()
    assert len(viz.caption_figure(records, caption_statistics(records)).axes) == 2


# -- training ----------------------------------------------------------------------------------
def test_learning_curves_plot_loss_and_validated_epochs():
    history = [{"epoch": 1, "loss": 2.0, "val": 0.3}, {"epoch": 2, "loss": 1.0, "val": None},
               {"epoch": 3, "loss": 0.5, "val": 0.6}]
    figure = viz.learning_curves({"a": history, "empty": []})
    loss_ax, val_ax = figure.axes
    assert list(loss_ax.lines[0].get_ydata()) == [2.0, 1.0, 0.5]
    assert list(val_ax.lines[0].get_xdata()) == [1, 3] and len(val_ax.lines) == 1


def test_accuracy_figure_bars_are_means():
    rows = [{"method": "a", "test": 0.4}, {"method": "a", "test": 0.6},
            {"method": "b", "test": 0.9}]
    figure = viz.accuracy_figure(rows, reference=0.2)
    heights = [bar.get_height() for bar in figure.axes[0].patches]
    assert heights == pytest.approx([0.5, 0.9])


def test_confusion_figure_is_row_normalised():
    figure = viz.confusion_figure([0, 0, 1, 1], [0, 1, 1, 1], ["x", "y"])
    matrix = figure.axes[0].images[0].get_array()
    assert np.allclose(matrix, [[0.5, 0.5], [0.0, 1.0]])


# -- embeddings ----------------------------------------------------------------------------------
def test_embedding_figure_draws_selected_classes_with_prototypes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    points = np.eye(3, 8)[labels] * 5 + rng.normal(size=(60, 8))
    view = EmbeddingView(points, labels, points[::4], labels[::4], np.eye(3, 8))
    figure = viz.embedding_figure({"before": view, "after": view}, ["a", "b", "c"], "pca", classes=["a", "c"])
    panels = [ax for ax in figure.axes if ax.collections]
    assert len(panels) == 2 and "silhouette" in panels[0].get_title()
    drawn = sum(len(c.get_offsets()) for c in panels[0].collections)
    assert drawn == 40 + 10 + 2  # images and texts of two classes, and their prototypes
    with pytest.raises(InvalidInputError):
        viz.embedding_figure({"v": view}, ["a", "b", "c"], classes=[])


# -- PaRe ------------------------------------------------------------------------------------------
def _pare_run(ks, method="pare"):
    from mmft_kit.records import EpochRecord, RunResult

    history = [EpochRecord(e, 1.0 / (e + 1), 1e-3, 0.5 - 0.1 * e, 0.1,
                           {"k": k, "lam": k / 16, "gumbel": e == 0, "gate_target_by_token": [float(e), 0.0, 1.0],
                            "gate_target_std": 0.1, "gate_source_std": 0.2, "gate_auroc": 0.5 + 0.1 * e})
               for e, k in enumerate(ks)]
    return RunResult(method, 0, "1-accuracy", False, 0.3, 0.3, 2, 0.3, history, {})


def test_pare_curves_draw_lambda_only_for_runs_that_replace():
    figure = viz.pare_curves({"pare": _pare_run([10, 8, 6]), "finetune": _pare_run([0, 0, 0], "finetune")})
    lam_ax, loss_ax, val_ax = figure.axes
    assert len(lam_ax.lines) == 1 and list(lam_ax.lines[0].get_ydata()) == pytest.approx([10 / 16, 0.5, 6 / 16])
    assert len(loss_ax.lines) == 2 and list(loss_ax.lines[0].get_ydata()) == pytest.approx([1.0, 0.5, 1 / 3])
    assert list(val_ax.lines[0].get_ydata()) == pytest.approx([0.5, 0.4, 0.3]) and "1-accuracy" in val_ax.get_title()


def test_gate_diagnostics_and_score_maps_read_the_epoch_extras():
    runs = {"relaxed": _pare_run([10, 8, 6]), "random gate": _pare_run([10, 8, 6], "pare_random_gate")}
    panels = viz.gate_diagnostics(runs).axes
    assert list(panels[3].lines[0].get_ydata()) == pytest.approx([0.5, 0.6, 0.7])  # gate AUROC
    assert len(panels[4].lines) == 4  # target and source spread of both runs
    maps = viz.score_maps(runs, informative=[2])
    grid = maps.axes[0].images[0].get_array()
    assert grid.shape == (3, 3) and grid[0].tolist() == pytest.approx([-1 / 3, -1 / 3, 2 / 3])  # centred per epoch


def test_steering_and_paired_intervals_draw_what_they_are_given():
    run = _pare_run([4, 4, 0])
    for e, (det, gumbel) in zip(run.history, ((0.2, 0.25), (0.1, 0.2), (None, None))):
        e.extra.update(informative_replaced=det, informative_replaced_gumbel=gumbel)
    left, right = viz.steering({"relaxed": run}, uniform_share=0.25).axes
    assert list(left.lines[0].get_ydata()) == pytest.approx([0.2, 0.1]) and left.lines[1].get_ydata()[0] == 0.25
    assert list(right.lines[0].get_ydata()) == pytest.approx([0.25, 0.2])
    intervals = {"pare − finetune": {"mean": -0.01, "low": -0.015, "high": -0.005, "n": 20}}
    ax = viz.paired_intervals(intervals, bound=0.02).axes[0]
    assert list(ax.lines[0].get_xdata()) == pytest.approx([-0.015, -0.005]) and ax.lines[1].get_xdata()[0] == -0.01


# -- what a figure says about its runs -------------------------------------------------------------
def test_accuracy_figure_titles_the_runs_and_draws_error_bars_only_where_n_exceeds_one():
    rows = [{"method": "a", "seed": s, "test": t} for s, t in enumerate((0.4, 0.6, 0.5))] + \
           [{"method": "b", "seed": 0, "test": 0.9}]
    ax = viz.accuracy_figure(rows, reference=0.2, dataset="glyphs", shots=4).axes[0]
    assert ax.get_title() == "test accuracy\nglyphs, 4-shot, seeds 0–2, n = 1–3 per method"
    assert ax.get_ylabel() == "test accuracy" and ax.get_ylim()[0] == 0.0
    bars = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"][0]
    segments = bars.lines[2][0].get_segments()
    se = np.std([0.4, 0.6, 0.5], ddof=1) / np.sqrt(3)  # ±1 standard error
    assert np.allclose(segments[0][:, 1], [0.5 - se, 0.5 + se])
    assert np.isnan(segments[1]).all()  # one run: no bar
    one = viz.accuracy_figure([{"method": "a", "seed": 0, "test": 0.5}]).axes[0]
    assert not [c for c in one.containers if type(c).__name__ == "ErrorbarContainer"]
    assert one.get_title().endswith("seed 0, n = 1 per method (one run: no spread)")


def test_a_silhouette_axis_spans_minus_one_to_one():
    rows = [{"model": "before", "silhouette": -0.2}, {"model": "after", "silhouette": 0.3}]
    ax = viz.accuracy_figure(rows, key="silhouette", label="model", value_range=(-1.0, 1.0)).axes[0]
    low, high = ax.get_ylim()
    assert low <= -1.0 and high >= 1.0 and "−1 … 1" in ax.get_ylabel()


def test_identical_curves_stay_distinguishable():
    same = {"pare (seed 0)": _pare_run([10, 8, 6]), "pare (seed 1)": _pare_run([10, 8, 6])}
    lam_ax = viz.pare_curves(same, title="PaRe, seeds 0, 1").axes[0]
    first, second = lam_ax.lines
    assert (first.get_linestyle(), first.get_marker()) != (second.get_linestyle(), second.get_marker())
    assert [t.get_text() for t in lam_ax.get_legend().get_texts()] == ["pare (seed 0)",
                                                                      "pare (seed 1) (= pare (seed 0))"]
    assert lam_ax.get_ylim() == (0.0, 1.0)


def test_auroc_panels_shade_the_chance_range_of_one_run():
    from mmft_kit.chance import auroc_chance_band

    band = auroc_chance_band(4, 12)
    panel = viz.gate_diagnostics({"random gate": _pare_run([4, 4, 4])}, auroc_chance=band).axes[3]
    shaded = [p for p in panel.patches if p.get_label().startswith("chance")]
    assert len(shaded) == 1 and "0.16–0.84" in shaded[0].get_label()
    rows = [{"variant": "random gate", "seed": 0, "auroc": 0.30}, {"variant": "relaxed", "seed": 0, "auroc": 0.8}]
    ax = viz.mechanism_auroc(rows, auroc_chance=band).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["random gate\n(n = 1)", "relaxed\n(n = 1)"]
    assert any(p.get_label().startswith("chance") for p in ax.patches)


def test_a_characteristic_without_a_word_list_is_not_measured():
    records = [CaptionRecord(0, "c", "shape", "a round c"), CaptionRecord(1, "c", "context", "a c on a table")]
    rows = {r["characteristic"]: r for r in caption_statistics(records)}
    assert rows["shape"]["characteristic_word_rate"] == 1.0 and rows["context"]["characteristic_word_rate"] is None
    assert rows["all"]["characteristic_word_rate"] == 1.0  # over the captions it could measure
    mentions = viz.caption_figure(records, list(rows.values())).axes[1]
    assert "not\nmeasured" in [t.get_text() for t in mentions.texts]
    assert np.isnan(mentions.patches[3].get_height())  # no bar at 0.000 for context
