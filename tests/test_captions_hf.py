"""The transformers captioner on a tiny random LLaVA built in a temporary folder, and the CLI with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from mmft_kit.__main__ import main
from mmft_kit.captions import HFCaptioner, build_prompt
from mmft_kit.models import load_captioner
from mmft_kit.errors import ModelNotAvailableError

WORDS = (
    "<pad> <unk> <s> </s> <image> user assistant : to differentiate this photo from other glyph signs photos, "
    "describe its primary visual shape texture characteristics based on the in words. vorn quell pry sigil "
    "red blue green circle square striped solid small large a of"
).split()


def build_tiny_llava(folder) -> None:
    """A random LLaVA (1-layer CLIP tower, 2-layer Llama) with a word-level tokenizer and a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

    vocab = {w: i for i, w in enumerate(dict.fromkeys(WORDS))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"},
    )
    template = (
        "{% for m in messages %}{{ m['role'] }} : {% for c in m['content'] %}{% if c['type'] == 'image' %}"
        "<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
        "{% if add_generation_prompt %}assistant : {% endif %}"
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}),
        tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=template,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=16, patch_size=8),
        text_config=LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                                pad_token_id=0, bos_token_id=2, eos_token_id=3),
        image_token_index=vocab["<image>"], vision_feature_select_strategy="default", vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config).eval()
    with torch.no_grad():  # random weights that rarely say end-of-text at once, so captions are not empty
        model.lm_head.weight[3].mul_(0.1)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_llava")
    build_tiny_llava(folder)
    return folder


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(n)]


def _prompts(n: int) -> list[str]:
    classes, chars = ["vorn", "pry_sigil", "quell"], ["visual", "shape", "texture"]
    return [build_prompt(classes[i % 3], "glyph signs", chars[(i // 3) % 3], 10 + i) for i in range(n)]


def test_loads_through_auto_classes_and_reports_settings(tiny_vlm):
    captioner = load_captioner(str(tiny_vlm), max_new_tokens=5, device="cpu")
    assert isinstance(captioner, HFCaptioner)
    assert type(captioner.model).__name__ == "LlavaForConditionalGeneration"
    assert captioner.processor.tokenizer.padding_side == "left"
    settings = captioner.settings
    assert settings["model"] == tiny_vlm.name and len(settings["revision"]) == 16
    assert settings["dtype"] == "float32" and settings["do_sample"] is True and settings["temperature"] == 0.2
    assert settings["max_new_tokens"] == 5 and settings["seed"] == 0
    text = captioner.chat_text("describe its shape")
    assert text == "user : <image> describe its shape assistant : "
    captions = captioner.caption(_images(2), _prompts(2))
    assert len(captions) == 2 and all(isinstance(c, str) and c for c in captions)
    greedy = HFCaptioner(tiny_vlm, temperature=0.0, max_new_tokens=5)
    assert greedy.settings["do_sample"] is False and greedy.settings["seed"] is None


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_batched_equals_one_at_a_time(tiny_vlm, temperature):
    images, prompts = _images(5), _prompts(5)
    batched = HFCaptioner(tiny_vlm, batch_size=3, temperature=temperature, max_new_tokens=8)
    single = HFCaptioner(tiny_vlm, batch_size=1, temperature=temperature, max_new_tokens=8)
    lengths = {len(batched.processor.tokenizer(batched.chat_text(p))["input_ids"]) for p in prompts}
    assert len(lengths) > 1  # prompts of different lengths: the batch is padded
    together = batched.caption(images, prompts)
    assert together == single.caption(images, prompts)
    assert sum(len(c.split()) for c in together) > 5
    if temperature > 0:  # per-item seeds: the order of the batch does not change a caption
        assert batched.caption(images[::-1], prompts[::-1]) == together[::-1]
        other_seed = HFCaptioner(tiny_vlm, batch_size=3, temperature=temperature, max_new_tokens=8, seed=1)
        assert other_seed.caption(images, prompts) != together


def test_unavailable_hub_model_fails_fast_offline(monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailableError) as info:
        load_captioner("no-such-org/no-such-vlm")
    assert time.perf_counter() - start < 30
    message = str(info.value)
    assert "no-such-org/no-such-vlm" in message and "embedded" in message and "folder" in message


def test_unreachable_hub_fails_fast_without_retries(monkeypatch):
    import time

    from mmft_kit.captions import backends

    monkeypatch.setattr(backends, "_offline", lambda: False)
    monkeypatch.setattr(backends, "hub_reachable", lambda timeout=5.0: False)
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match="cannot be reached"):
        load_captioner("no-such-org/no-such-vlm")
    assert time.perf_counter() - start < 30


def test_embedded_captioner_comes_from_the_zoo(tiny_vlm, monkeypatch):
    import mmft_kit.zoo

    asked = []
    monkeypatch.setattr(mmft_kit.zoo, "ensure_vlm", lambda size="default": asked.append(size) or tiny_vlm)
    captioner = load_captioner("embedded:ci", temperature=0.0, max_new_tokens=4)
    assert asked == ["ci"] and captioner.settings["model"] == "embedded:ci"
    assert load_captioner("embedded", max_new_tokens=4).name == "embedded" and asked == ["ci", "default"]


def test_cli_captions_with_a_model_folder(tiny_vlm, tmp_path, capsys):
    store = tmp_path / "captions.jsonl"
    argv = ["caption", "--dataset", "glyphs", "--store", str(store), "--captioner", str(tiny_vlm),
            "--max-new-tokens", "6", "--batch-size", "5", "--quiet", "--limit"]
    assert main(argv + ["4"]) == 0
    assert "captioned 4 images (12 captions), reused 0" in capsys.readouterr().out
    lines = [json.loads(line) for line in store.read_text().splitlines()]
    assert lines[0]["settings"]["model"] == tiny_vlm.name and lines[0]["settings"]["temperature"] == 0.2
    assert [r["characteristic"] for r in lines[1:4]] == ["visual", "shape", "texture"]
    assert all(r["caption"] for r in lines[1:])
    assert main(argv + ["6"]) == 0  # same settings, two more images
    assert "captioned 2 images (6 captions), reused 4" in capsys.readouterr().out
    assert main(argv + ["6", "--temperature", "0.7"]) == 2
    assert "temperature: store has 0.2, asked for 0.7" in capsys.readouterr().err


@pytest.mark.slow
def test_throughput_benchmark_prints_its_ratios_headline_last(tiny_vlm, tmp_path, capsys):
    import importlib

    bench = importlib.import_module("benchmarks.caption_throughput")
    out = tmp_path / "figures.json"
    figures = bench.main(["--captioner", str(tiny_vlm), "--images", "4", "--batch-size", "2", "--requests", "4",
                          "--latency", "0.05", "--concurrency", "4", "--rounds", "1", "--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"ratio={figures['in_process']['ratio']:.2f}"
    assert any("served_ratio=" in line for line in lines) and any("warm_ratio=" in line for line in lines)
    assert json.loads(out.read_text())["served"]["requests"] == 4 and figures["warm_store"]["ratio"] > 1
