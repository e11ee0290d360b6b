"""What a CLIP's frozen features read of the world's attributes: the diagnosis behind the world's calibration."""

from __future__ import annotations

import numpy as np
import pytest

from mmft_kit.data.world import ATTRIBUTES
from mmft_kit.data.tasks import class_attributes
from mmft_kit.embedded.readability import attribute_readability, variance_share
from mmft_kit.models import load_clip


def test_class_attributes_are_those_some_task_defines_its_classes_by():
    assert set(class_attributes()) == {"shape", "colour", "size", "fill", "background", "spots", "period", "shade"}
    assert not {"position", "style", "clutter"} & set(class_attributes())


@pytest.fixture(scope="module")
def ci_report() -> dict:
    model, _, tokenizer = load_clip("embedded:ci", device="cpu")
    return attribute_readability(model, tokenizer, n_images=300)


def test_readability_reports_probe_zero_shot_and_chance_per_attribute(ci_report):
    assert set(ci_report) == set(ATTRIBUTES) - {"clutter"}  # every probe image is clean
    for name, row in ci_report.items():
        assert row["chance"] == pytest.approx(1 / len(ATTRIBUTES[name]))
        assert 0.0 <= row["probe"] <= 1.0 and 0.0 <= row["zero_shot"] <= 1.0 and 0.0 <= row["variance"] <= 1.0


def test_what_the_ci_clip_was_taught_reads_far_above_chance(ci_report):
    # The warm start's pixel statistics carry the background and the colours; the corpus says fill in 90 % of
    # its descriptions and the pretext heads tell patterns apart.
    assert ci_report["background"]["probe"] > 0.9
    assert ci_report["colour"]["probe"] > ci_report["colour"]["chance"] + 0.3
    assert ci_report["fill"]["probe"] > ci_report["fill"]["chance"] + 0.1


def test_variance_share_is_the_between_group_share():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 500)
    spread = rng.normal(size=(1000, 4))
    assert variance_share(spread, labels) < 0.02
    apart = spread + np.where(labels[:, None] == 1, 3.0, -3.0) * np.array([1.0, 0, 0, 0])  # 9 of 13 units between
    assert variance_share(apart, labels) == pytest.approx(9 / 13, abs=0.03)
