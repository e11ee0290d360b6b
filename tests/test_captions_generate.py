"""Captioning settings: the default store path, the shard of a process, captioners by spelling."""

from __future__ import annotations

import numpy as np
import pytest

from mmft_kit.captions import LabelCaptioner, caption_dataset, default_store_path, make_captioner, resolve_shard
from mmft_kit.data import ArrayImageDataset
from mmft_kit.captions.served import OpenAICaptioner
from mmft_kit.errors import InvalidInputError, ModelNotAvailableError
from mmft_kit.models import load_captioner
from mmft_kit.train.captions import default_store
from mmft_kit.zoo import recipe_hash

from conftest import RecordingCaptioner


def test_default_store_path_is_a_function_of_data_set_and_settings(tmp_path):
    base = default_store_path("dtd", "openai:Qwen/Qwen2.5-VL-7B-Instruct", tmp_path)
    assert base == tmp_path / "dtd--openai_Qwen_Qwen2.5_VL_7B_Instruct.jsonl"
    assert default_store_path("dtd", "embedded", tmp_path, words=50, template=None) == tmp_path / "dtd--embedded.jsonl"
    assert default_store_path("dtd", "embedded", tmp_path, words=30).name == "dtd--embedded--w30.jsonl"
    other = default_store_path("dtd", "embedded", tmp_path, template="Describe the {class_name}.")
    assert other.name.startswith("dtd--embedded--t") and other != base
    assert default_store_path("dtd", "embedded", tmp_path, build="abc123").name == "dtd--embedded--abc123.jsonl"


def test_the_embedded_captioners_default_store_carries_its_build():
    """A kit with a rebuilt captioner starts new stores instead of refusing the old ones."""
    build = recipe_hash("vlm", "default")
    assert default_store("dtd", None, "embedded").name == f"dtd--embedded--{build}.jsonl"
    ci = default_store("dtd", None, "embedded:ci", 30)
    assert ci.name == f"dtd--embedded_ci--{recipe_hash('vlm', 'ci')}--w30.jsonl"
    assert default_store("dtd", None, "label").name == "dtd--label.jsonl"


def test_shard_comes_from_the_argument_or_torchrun(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert resolve_shard(None) is None and resolve_shard("1/3") == (1, 3) and resolve_shard((0, 2)) == (0, 2)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert resolve_shard(None) == (3, 4) and resolve_shard("0/1") == (0, 1)
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert resolve_shard(None) is None
    with pytest.raises(InvalidInputError, match="give i from 0 to 1"):
        resolve_shard("2/2")


def test_captioners_by_spelling(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    assert isinstance(load_captioner("label", batch_size=3), LabelCaptioner)
    served = make_captioner("openai:some/vlm", base_url="http://127.0.0.1:9/v1", concurrency=3, batch_size=99,
                            dtype="float16", device=None, max_new_tokens=None, temperature=0.0)
    assert isinstance(served, OpenAICaptioner) and served.concurrency == 3 and served.max_new_tokens == 256
    assert served.settings["model"] == "openai:some/vlm" and served.settings["temperature"] == 0.0
    with pytest.raises(ModelNotAvailableError, match=r"\$NO_SUCH_KEY is not set"):
        make_captioner("openai:gpt-4o-mini", api_key_env="NO_SUCH_KEY")
    with pytest.raises(InvalidInputError, match="concurrency must be at least 1"):
        make_captioner("openai:m", base_url="http://127.0.0.1:9/v1", concurrency=0)


def test_a_repeated_image_is_asked_once(tmp_path):
    image = np.full((1, 16, 16, 3), 7, dtype=np.uint8)
    dataset = ArrayImageDataset(np.concatenate([image, image]), [0, 0], ["cat"], "pets")
    captioner = RecordingCaptioner()
    report = caption_dataset(dataset, captioner, tmp_path / "s.jsonl", characteristics=["visual"], progress=False)
    assert len(captioner.shown) == 1 and report.captioned == 1 and report.reused == 1
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 2  # header + one caption
