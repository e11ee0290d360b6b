"""The cheap prompt score (mmft_kit.train.prompt_score) and the ranking of prompts (mmft_kit.train.prompt_rank,
``python -m mmft_kit prompts rank``): reproducible, clear about bad templates, resumable, served back ends."""

from __future__ import annotations

import json

import pytest
from conftest import FakeCaptioner

from mmft_kit.__main__ import main
from mmft_kit.captions import CaptionStore, resolve_template
from mmft_kit.captions.loopback import LoopbackServer
from mmft_kit.errors import InvalidInputError
from mmft_kit.params.prompts import PromptRankJob, PromptScoreParams
from mmft_kit.train.captions import default_store
from mmft_kit.train.prompt_rank import rank_prompts
from mmft_kit.train.prompt_score import PromptScoreError, score_prompt

#: Small and fast: the ci CLIP, 2 shots of the 8 glyph classes, 2 draws, one characteristic.
SMALL = dict(dataset="glyphs", clip="embedded:ci", shots=2, draws=2, characteristics=["visual"])
CLASSLESS = "Describe this {domain} photo in {words} words."


@pytest.fixture(autouse=True)
def own_stores(tmp_path, monkeypatch):
    """Default caption stores in this test's folder (the shipped ci CLIP is still found beside the code)."""
    monkeypatch.setenv("MMFT_KIT_CACHE", str(tmp_path / "cache"))


class FixedCaptioner(FakeCaptioner):
    """Writes ``text`` for every prompt."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    @property
    def settings(self) -> dict:
        return {"backend": "test", "model": "fixed", "text": self.text}

    def caption(self, images, prompts, classnames=None) -> list[str]:
        self.calls += len(prompts)
        return [self.text] * len(prompts)


class SilentOnCaptioner(FakeCaptioner):
    """A FakeCaptioner that writes nothing for the prompts holding ``marker``."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def caption(self, images, prompts, classnames=None) -> list[str]:
        written = super().caption(images, prompts, classnames)
        return ["" if self.marker in prompt else text for prompt, text in zip(prompts, written)]


class InterruptedCaptioner(FakeCaptioner):
    """A FakeCaptioner that stops (as Ctrl-C does) when asked for more than ``limit`` captions."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def caption(self, images, prompts, classnames=None) -> list[str]:
        if self.calls + len(prompts) > self.limit:
            raise KeyboardInterrupt
        return super().caption(images, prompts, classnames)


def test_the_score_is_reproducible_for_a_seed_and_its_captions_come_from_the_store(tmp_path):
    first = score_prompt(PromptScoreParams(**SMALL, caption_store=str(tmp_path / "a.jsonl")), captioner=FakeCaptioner())
    again = score_prompt(PromptScoreParams(**SMALL, caption_store=str(tmp_path / "b.jsonl")),
                         captioner=FakeCaptioner())
    assert first.accuracies == again.accuracies and len(first.accuracies) == 2
    assert first.captions_made == 2 * 8 * 2 and first.captions_used == 32  # 2 draws of 2 shots × 8 classes
    assert 0 <= first.score <= 1 and first.se >= 0
    assert {row["characteristic"] for row in first.statistics} == {"visual", "all"}
    cached = FakeCaptioner()
    reused = score_prompt(PromptScoreParams(**SMALL, caption_store=str(tmp_path / "a.jsonl")), captioner=cached)
    assert reused.accuracies == first.accuracies and cached.calls == 0 and reused.captions_made == 0
    other_seed = score_prompt(PromptScoreParams(**SMALL, seed=5, caption_store=str(tmp_path / "c.jsonl")),
                              captioner=FakeCaptioner())
    assert other_seed.accuracies != first.accuracies


@pytest.mark.parametrize("template, named", [
    ("Describe this {clas_name} photo.", ["{clas_name}", "did you mean {class_name}?"]),
    ("Describe this {} photo in {words} words.", ["positional", "{class_name}"]),
    ("Describe this {class_name photo.", ["malformed", "{{ or }}"]),
])
def test_an_unknown_or_malformed_placeholder_is_refused_naming_it_and_the_fix(template, named):
    captioner = FakeCaptioner()
    with pytest.raises(InvalidInputError) as caught:
        score_prompt(PromptScoreParams(**SMALL, template=template), captioner=captioner)
    assert all(part in str(caught.value) for part in named), str(caught.value)
    assert captioner.calls == 0


def test_a_template_leaving_out_a_slot_is_scored_with_a_notice():
    result = score_prompt(PromptScoreParams(**SMALL, template=CLASSLESS), captioner=FakeCaptioner())
    assert len(result.accuracies) == 2
    assert any("no {class_name}" in notice and "class-agnostic" in notice for notice in result.notices)
    assert any("no {characteristic}" in notice for notice in result.notices)


def test_empty_captions_give_a_clear_error_and_leave_the_store_clean(tmp_path):
    store = tmp_path / "empty.jsonl"
    with pytest.raises(PromptScoreError, match="wrote no caption for any of the 32 requests"):
        score_prompt(PromptScoreParams(**SMALL, caption_store=str(store)), captioner=FixedCaptioner("   "))
    assert len(CaptionStore(store)) == 0


def test_captions_too_long_for_the_text_encoder_are_named_in_a_notice():
    result = score_prompt(PromptScoreParams(**SMALL), captioner=FixedCaptioner(" ".join(["red"] * 120)))
    assert result.truncated == 1.0
    assert any("exceed the text encoder's" in notice and "fewer words" in notice for notice in result.notices)


def test_a_ranking_resumes_after_an_interruption_without_captioning_again(tmp_path, monkeypatch):
    job = PromptRankJob(**{k: v for k, v in SMALL.items() if k != "characteristics"},
                        templates=["differentiate", CLASSLESS], characteristic_sets=["visual", "shape"],
                        rank_dir=str(tmp_path / "rank"))
    whole = FakeCaptioner()
    monkeypatch.setenv("MMFT_KIT_CACHE", str(tmp_path / "reference-cache"))
    reference, failed = rank_prompts(job.updated(rank_dir=str(tmp_path / "whole")), captioner=whole)
    monkeypatch.setenv("MMFT_KIT_CACHE", str(tmp_path / "cache"))
    assert len(reference) == 4 and [r["rank"] for r in reference] == [1, 2, 3, 4] and failed == []
    # differentiate × {visual, shape}: 2 × 32 captions; the class-less template asks one prompt for both: 32
    assert whole.calls == 96
    interrupted = InterruptedCaptioner(limit=48)  # the first row and half of the second are captioned and stored
    with pytest.raises(KeyboardInterrupt):
        rank_prompts(job, captioner=interrupted)
    finished = (tmp_path / "rank" / "rank.jsonl").read_text().splitlines()
    assert len(finished) == 1 and (tmp_path / "rank" / "rank.csv").exists()
    resumed = FakeCaptioner()
    rows, _ = rank_prompts(job, captioner=resumed)
    assert resumed.calls == 96 - 48  # nothing captioned twice
    assert len((tmp_path / "rank" / "rank.jsonl").read_text().splitlines()) == 4  # the first row was not redone
    assert json.loads(finished[0])["score"] in [r["score"] for r in rows]
    again = FakeCaptioner()
    rank_prompts(job, captioner=again)
    assert again.calls == 0
    assert (tmp_path / "rank" / "rank.md").read_text().startswith("| rank | name |")


def test_a_prompt_the_captioner_answers_with_nothing_is_listed_as_failed_and_the_ranking_goes_on(tmp_path, capsys):
    silent = "Say nothing about this {class_name} in {words} words."
    job = PromptRankJob(**{k: v for k, v in SMALL.items() if k != "characteristics"},
                        templates=["differentiate", silent, CLASSLESS], characteristic_sets=["visual"],
                        rank_dir=str(tmp_path / "rank"))
    rows, failed = rank_prompts(job, captioner=SilentOnCaptioner("Say nothing"))
    assert {r["template"] for r in rows} == {resolve_template("differentiate"), CLASSLESS}
    assert [r["rank"] for r in rows] == [1, 2]
    assert len(failed) == 1 and failed[0]["template"] == silent and failed[0]["name"] == "(string)"
    assert "wrote no caption for any of the 32 requests" in failed[0]["failed"]
    assert len(CaptionStore(default_store("glyphs", None, "embedded", 50, silent))) == 0
    assert len(CaptionStore(default_store("glyphs", None, "embedded", 50, "differentiate"))) == 32
    table = (tmp_path / "rank" / "rank.md").read_text().splitlines()
    assert "wrote no caption" in table[-1] and "Say nothing" in table[-1]  # listed after the ranked rows
    assert len((tmp_path / "rank" / "rank.jsonl").read_text().splitlines()) == 2  # a rerun tries it again
    csv = (tmp_path / "rank" / "rank.csv").read_text().splitlines()
    assert csv[0].endswith(",failed") and len(csv) == 4 and "wrote no caption" in csv[-1]


def test_the_served_back_end_scores_a_prompt_against_a_loopback_server(tmp_path):
    with LoopbackServer() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        result = score_prompt(PromptScoreParams(**SMALL, captioner="openai:loopback", base_url=server.base_url,
                                                caption_store=str(tmp_path / "served.jsonl")))
    assert result.captions_made == 32 and len(result.accuracies) == 2
    assert CaptionStore(tmp_path / "served.jsonl").settings["backend"] == "openai"


def test_the_command_line_names_a_bad_template_and_a_bad_option(tmp_path, capsys):
    assert main(["prompts", "rank", "--templates", "Describe {clas_name}.", "--out", str(tmp_path)]) == 2
    assert "did you mean {class_name}?" in capsys.readouterr().err
    assert main(["prompts", "rank", "--draws", "0", "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "--draws" in error and "prompts rank --help" in error


def test_the_figures_take_rows_and_return_a_figure():
    from matplotlib.figure import Figure

    from mmft_kit.viz import prompt_score_bars, score_vs_finetuned

    rows = [{"characteristics": c, "score": s, "se": 0.02, "mean_words": 40} for c, s in (("visual", 0.6),
                                                                                            ("shape", 0.4))]
    bars = prompt_score_bars(rows, chance=0.125)
    assert isinstance(bars, Figure) and len(bars.axes[0].patches) == 2
    points = {d: [{"prompt": "a", "score": 0.5, "se": 0.01, "finetuned": 0.7, "finetuned_se": 0.02}]
              for d in ("glyphs", "tiles")}
    scatter = score_vs_finetuned(points, {"glyphs": 0.5})
    assert len(scatter.axes) == 2 and "ρ = 0.50" in scatter.axes[0].get_title()
