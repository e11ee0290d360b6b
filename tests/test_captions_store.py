"""The caption store and captioning a data set: keys, durability, resuming, refusal, shards, skips."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from mmft_kit.captions import CaptionStore, Captioner, LabelCaptioner, caption_dataset, image_digest
from mmft_kit.data import make_world_task
from mmft_kit.errors import CaptionStoreMismatchError, InvalidInputError

SETTINGS = {"backend": "echo", "temperature": 0.2, "model": "m"}


class EchoCaptioner(Captioner):
    """Captions that name the image and the prompt; can fail after some batches, or answer nothing."""

    name = "echo"

    def __init__(self, batch_size: int = 4, fail_after: int | None = None, silent_on: str | None = None):
        self.batch_size, self.fail_after, self.silent_on = batch_size, fail_after, silent_on
        self.batches = self.seen = 0

    @property
    def settings(self):
        return {"backend": "echo", "model": "echo-1"}

    def caption(self, images, prompts, classnames=None):
        if self.fail_after is not None and self.batches >= self.fail_after:
            raise RuntimeError("killed")
        self.batches += 1
        self.seen += len(prompts)
        return ["" if self.silent_on and self.silent_on in p else f"image {image_digest(i)[:8]} / {p.split()[9]}"
                for i, p in zip(images, prompts)]


class BrokenFiles:
    """A world task whose images ``broken`` cannot be read."""

    def __init__(self, base, broken):
        self.base, self.broken = base, set(broken)
        self.classnames, self.domain, self.targets = base.classnames, base.domain, base.targets

    def __len__(self):
        return len(self.base)

    def image(self, index):
        if index in self.broken:
            raise OSError(f"cannot identify image file {index}.png")
        return self.base.image(index)


@pytest.fixture(scope="module")
def glyphs():
    return make_world_task("glyphs", per_class=2)  # 16 images


def _lines(path):
    return path.read_text().splitlines()


def test_store_round_trip_and_plain_jsonl(tmp_path):
    path = tmp_path / "s.jsonl"
    store = CaptionStore(path, settings=SETTINGS)
    store.add([{"image": "a" * 64, "prompt": "p1", "characteristic": "visual", "caption": "c1"},
               {"image": "b" * 64, "prompt": "p1", "characteristic": "shape", "caption": "c2"}])
    again = CaptionStore(path, settings=dict(SETTINGS))
    assert len(again) == 2 and again.get("a" * 64, "p1") == "c1" and again.get("a" * 64, "p2") is None
    assert ("b" * 64, "p1") in again and again.characteristics() == ["visual", "shape"]
    assert CaptionStore(path).settings == SETTINGS  # read without settings: whatever it holds
    header, *records = (json.loads(line) for line in _lines(path))
    assert header["format"] == "mmft_kit.captions/1" and header["settings"] == SETTINGS
    assert [r["caption"] for r in records] == ["c1", "c2"]
    with pytest.raises(InvalidInputError, match="non-empty"):
        store.add([{"image": "c" * 64, "prompt": "p", "caption": ""}])
    with pytest.raises(InvalidInputError, match="does not exist"):
        CaptionStore(tmp_path / "missing.jsonl")


def test_other_settings_are_refused_with_the_fix(tmp_path):
    path = tmp_path / "s.jsonl"
    CaptionStore(path, settings=SETTINGS).add([{"image": "a", "prompt": "p", "caption": "c"}])
    with pytest.raises(CaptionStoreMismatchError) as info:
        CaptionStore(path, settings={**SETTINGS, "temperature": 0.7, "seed": 1})
    message = str(info.value)
    assert "temperature: store has 0.2, asked for 0.7" in message and "seed: store has '(not set)'" in message
    assert "model" not in message.split("\n", 1)[1].split("Use")[0]  # only what differs is listed
    assert "--store" in message and "--overwrite" in message
    fresh = CaptionStore(path, settings={**SETTINGS, "temperature": 0.7}, overwrite=True)
    assert len(fresh) == 0 and CaptionStore(path).settings["temperature"] == 0.7


@pytest.mark.parametrize("content", ["just a text file\nwith lines\n", "no newline at all"])
def test_a_file_that_is_not_a_store_is_refused_and_left_alone(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_text(content)
    with pytest.raises(CaptionStoreMismatchError, match="not a caption store"):
        CaptionStore(path, settings=SETTINGS)
    assert path.read_text() == content


def test_torn_and_malformed_lines_are_never_trusted(tmp_path):
    path = tmp_path / "s.jsonl"
    store = CaptionStore(path, settings=SETTINGS)
    store.add([{"image": "a", "prompt": "p", "caption": "c1"}])
    with open(path, "a") as handle:
        handle.write('not json\n{"image": "b", "prompt": "p", "caption": "c2"}\n{"image": "c", "prompt": "p", "cap')
    with pytest.warns(UserWarning) as caught:
        reopened = CaptionStore(path, settings=SETTINGS)
    messages = " ".join(str(w.message) for w in caught)
    assert "torn last line" in messages and "1 malformed" in messages
    assert len(reopened) == 2 and reopened.get("c", "p") is None
    assert path.read_text().endswith('"c2"}\n')  # the torn tail is cut off
    # a writer that crashed while another process had the store open: cut before appending
    with open(path, "a") as handle:
        handle.write('{"image": "d", "pro')
    with pytest.warns(UserWarning, match="before appending"):
        reopened.add([{"image": "e", "prompt": "p", "caption": "c3"}])
    assert _lines(path)[2] == "not json" and [json.loads(line)["image"] for line in _lines(path)[3:]] == ["b", "e"]


def _append_many(path, worker):
    store = CaptionStore(path, settings=SETTINGS)
    for i in range(40):
        store.add([{"image": f"{worker}-{i}", "prompt": "p", "caption": "x" * 3000}])


def test_processes_can_share_a_store(tmp_path):
    path = tmp_path / "s.jsonl"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(path, w)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(CaptionStore(path)) == 120 and len(_lines(path)) == 121


def test_resume_after_a_crash_equals_an_uninterrupted_run(glyphs, tmp_path):
    whole, resumed = tmp_path / "whole.jsonl", tmp_path / "resumed.jsonl"
    report = caption_dataset(glyphs, EchoCaptioner(), whole, progress=False)
    assert (report.captioned, report.reused, report.captions, report.skipped) == (16, 0, 48, {})

    crashing = EchoCaptioner(fail_after=5)
    with pytest.raises(RuntimeError, match="killed"):
        caption_dataset(glyphs, crashing, resumed, progress=False)
    assert len(_lines(resumed)) == 1 + 5 * 4  # each finished batch was written at once
    with open(resumed, "a") as handle:  # the crash also tore the line being written
        handle.write('{"image": "' + "f" * 64 + '", "prompt": "To differ')

    rerun = EchoCaptioner()
    with pytest.warns(UserWarning, match="torn last line"):
        report = caption_dataset(glyphs, rerun, resumed, progress=False)
    assert rerun.seen == 48 - 20  # only the rest is captioned
    assert (report.captioned, report.reused, report.captions) == (10, 6, 28)
    assert resumed.read_bytes() == whole.read_bytes()
    report = caption_dataset(glyphs, EchoCaptioner(), resumed, progress=False)
    assert (report.captioned, report.reused, report.captions) == (0, 16, 0)


def test_another_captioner_or_prompt_setting_is_refused(glyphs, tmp_path):
    path = tmp_path / "s.jsonl"
    caption_dataset(glyphs, EchoCaptioner(), path, limit=2, progress=False)
    with pytest.raises(CaptionStoreMismatchError, match="backend: store has 'echo', asked for 'label'"):
        caption_dataset(glyphs, LabelCaptioner(), path, progress=False)
    with pytest.raises(CaptionStoreMismatchError, match="words: store has 50, asked for 30"):
        caption_dataset(glyphs, EchoCaptioner(), path, words=30, progress=False)
    with pytest.raises(CaptionStoreMismatchError, match="template"):
        caption_dataset(glyphs, EchoCaptioner(), path, template="Describe the {characteristic} of it.", progress=False)
    # more characteristics are added to the same store
    report = caption_dataset(glyphs, EchoCaptioner(), path, limit=2, characteristics=["visual", "color"],
                             progress=False)
    assert (report.reused, report.captions) == (0, 2) and CaptionStore(path).characteristics()[-1] == "color"


def test_shards_split_the_work_between_processes(glyphs, tmp_path):
    whole, shared = tmp_path / "whole.jsonl", tmp_path / "shared.jsonl"
    caption_dataset(glyphs, EchoCaptioner(), whole, limit=10, progress=False)
    first = caption_dataset(glyphs, EchoCaptioner(), shared, limit=10, shard="0/3", progress=False)
    second = caption_dataset(glyphs, EchoCaptioner(), shared, limit=10, shard=(1, 3), progress=False)
    third = caption_dataset(glyphs, EchoCaptioner(), shared, limit=10, shard="2/3", progress=False)
    assert (first.captioned, second.captioned, third.captioned) == (4, 3, 3)
    assert sorted(_lines(shared)) == sorted(_lines(whole))
    with pytest.raises(InvalidInputError, match="give i from 0 to 2"):
        caption_dataset(glyphs, EchoCaptioner(), shared, shard="3/3", progress=False)


def test_unreadable_images_and_empty_answers_are_skipped_and_counted(glyphs, tmp_path):
    path = tmp_path / "s.jsonl"
    broken = BrokenFiles(glyphs, broken=[2, 5])
    report = caption_dataset(broken, EchoCaptioner(silent_on="texture"), path, limit=8, progress=False)
    assert report.skipped == {"unreadable image (OSError)": 2, "empty caption from the model": 6}
    assert (report.captioned, report.reused, report.captions) == (0, 0, 12)
    assert "skipped 8 (empty caption from the model: 6; unreadable image (OSError): 2)" in report.summary()
    report = caption_dataset(broken, EchoCaptioner(), path, limit=8, progress=False)  # the empty ones again
    assert report.skipped == {"unreadable image (OSError)": 2} and (report.captioned, report.captions) == (6, 6)


def test_label_captioner_writes_the_class_prompt(glyphs, tmp_path):
    path = tmp_path / "s.jsonl"
    caption_dataset(glyphs, LabelCaptioner(), path, characteristics=["visual"], limit=3, progress=False)
    records = list(CaptionStore(path).records())
    assert [r["caption"] for r in records] == [f"a photo of a {glyphs.classnames[glyphs.targets[i]].replace('_', ' ')}."
                                               for i in range(3)]
