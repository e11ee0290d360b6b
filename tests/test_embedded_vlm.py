"""The embedded VLM: loads like a hub model, follows the asked characteristic and word budget."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from mmft_kit.data.world import render, sample_attributes
from mmft_kit.captions.prompts import build_prompt
from mmft_kit.embedded.caption_corpus import write_caption
from mmft_kit.embedded.vlm import (
    VLM_RECIPES, VLMRecipe, _image_tokens, _instruction_batch, build_processor, build_tokenizer, build_vlm,
    caption_images, chat_prompt, mention_rates, pixel_values, world_vocabulary,
)
from mmft_kit.errors import InvalidInputError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory) -> Path:
    """The ``ci`` VLM: from the zoo's cache when the zoo exists, else built here once."""
    try:
        from mmft_kit.zoo import ensure_vlm
    except ImportError:
        folder = tmp_path_factory.mktemp("vlm") / "ci"
        build_vlm(VLM_RECIPES["ci"], folder, progress=False)
        return folder
    return Path(ensure_vlm(size="ci"))


@pytest.fixture(scope="module")
def loaded(vlm_dir):
    processor = AutoProcessor.from_pretrained(vlm_dir)
    model = AutoModelForImageTextToText.from_pretrained(vlm_dir).eval()
    return model, processor


@pytest.fixture(scope="module")
def held_out():
    """World images the VLM never saw (a fresh seed), any style."""
    rng = np.random.default_rng(20_261_123)
    attrs = [sample_attributes(rng) for _ in range(48)]
    return attrs, [render(a, rng=rng) for a in attrs]


def _words(text: str) -> int:
    return len(re.findall(r"[a-z]+", text.lower()))


def test_recipe_rejects_bad_settings():
    with pytest.raises(InvalidInputError, match="patch_size"):
        VLMRecipe(image_size=32, patch_size=6)
    with pytest.raises(InvalidInputError, match="characteristic"):
        VLMRecipe(characteristics=("colourful",))
    with pytest.raises(InvalidInputError, match="word_budget_range"):
        VLMRecipe(word_budget_range=(5, 500))


def test_training_batches_match_the_processor_and_mask_the_prompt():
    recipe = VLM_RECIPES["ci"]
    processor = build_processor(recipe, build_tokenizer(world_vocabulary(samples=200)))
    images = np.stack([render(sample_attributes(np.random.default_rng(i))) for i in range(3)])
    expected = processor(images=list(images), text=[chat_prompt(processor, "describe it.")] * 3, return_tensors="pt")
    assert torch.allclose(pixel_values(processor, images), expected["pixel_values"], atol=1e-5)
    assert (expected["input_ids"] == processor.tokenizer.convert_tokens_to_ids("<image>")).sum() == 3 * _image_tokens(
        processor)
    batch = _instruction_batch(recipe, processor, np.random.default_rng(0))
    tokenizer = processor.tokenizer
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        answer = labels[labels != -100]
        assert answer[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in answer
        text = tokenizer.decode(ids[mask.bool()])
        assert text.endswith(tokenizer.decode(answer)) and "assistant :" in text.removesuffix(tokenizer.decode(answer))
        assert len(answer) < mask.sum() - _image_tokens(processor)


def test_folder_loads_like_a_hub_model_and_generates(loaded, held_out):
    model, processor = loaded
    _, images = held_out
    assert type(model).__name__ == "LlavaForConditionalGeneration"
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "describe it."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(images=images[0], text=text, return_tensors="pt")
    assert (inputs["input_ids"] == model.config.image_token_id).sum() == model.config.image_seq_length
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    caption = processor.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert _words(caption) >= 3
    # world prompts and captions are all in the vocabulary; an unseen class name maps to [UNK]
    tokenizer = processor.tokenizer
    attrs = sample_attributes(np.random.default_rng(0))
    known = write_caption(attrs, "texture", 120, np.random.default_rng(0), "pry sigil", "glyph signs")
    known += " " + build_prompt("pry_sigil", "glyph signs", "shape", 30)
    assert tokenizer.unk_token_id not in tokenizer(known)["input_ids"]
    assert tokenizer.unk_token_id in tokenizer(build_prompt("zyxxle", "pets", "shape", 30))["input_ids"]


def test_captions_follow_the_asked_characteristic(loaded, held_out):
    model, processor = loaded
    attrs, images = held_out
    rates = {}
    for characteristic in ("shape", "texture", "visual"):
        prompts = [build_prompt("vorn", "glyph signs", characteristic, 30)] * len(images)
        rates[characteristic] = mention_rates(caption_images(model, processor, images, prompts, 60), attrs)
    # the rough ci VLM (recipe 2a6a67877a38; the default's figures are in its build report and the realism
    # benchmark): in its build report shape prompts named the true shape in 0.31 (texture prompts 0.00),
    # texture prompts the true fill in 0.19 (shape prompts 0.00)
    assert rates["shape"]["shape"] > rates["texture"]["shape"], rates
    assert rates["texture"]["fill"] > rates["shape"]["fill"], rates


def test_batched_left_padded_generation_matches_one_at_a_time(loaded, held_out):
    model, processor = loaded
    _, images = held_out
    prompts = [
        build_prompt("vorn", "glyph signs", "shape", 10),
        build_prompt("a very long invented class name", "badges", "texture", 20),
        build_prompt("x", "tiles", "visual", 30),
    ]
    processor.tokenizer.padding_side = "left"
    texts = [chat_prompt(processor, p) for p in prompts]
    inputs = processor(images=images[:3], text=texts, padding=True, return_tensors="pt")
    assert (inputs["attention_mask"] == 0).any(), "prompts should differ in length"
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=30, do_sample=False)
    batched = processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    single = [caption_images(model, processor, [img], [p], 30)[0] for img, p in zip(images[:3], prompts)]
    assert batched == single
