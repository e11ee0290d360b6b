"""The embedded multimodal LLM: a tiny LLaVA-style captioner instruction-tuned on the world.

A CLIP vision tower and a Llama decoder (``LlavaForConditionalGeneration``), a word-level
tokenizer built in memory from the world's vocabulary, and a ``LlavaProcessor`` with a chat
template. Trained on world images paired with the synthetic-captions prompt ("describe its
primary {characteristic} characteristics ... in {words} words") and the world's captions for
that characteristic, it saves a folder that ``AutoProcessor`` and
``AutoModelForImageTextToText`` load exactly as they load a hub model.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tqdm.auto import tqdm
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from ..data.tasks import WORLD_TASKS
from ..data.world import ATTRIBUTES, Attributes, describe_characteristic, render, sample_attributes
from ..errors import InvalidInputError
from ..runtime import resolve_device, seed_everything
from ..text import clean_classname

BOS, EOS, PAD, UNK, IMAGE = "<s>", "</s>", "<pad>", "<unk>", "<image>"

#: ``user: <image> {prompt}`` then ``assistant: {answer}</s>``; content may be a string or a list of parts.
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{{- message['role'] + ': ' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{{- '<image> ' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{{- eos_token -}}{%- endif -%}"
    "{{- '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'assistant:' -}}{%- endif -%}"
)

_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred"
).split()
_SYLLABLES = ("ka", "lo", "mi", "ren", "tu", "vas", "zor", "pel", "qui", "dra", "nox", "bel", "sin", "gra", "vo")

#: Words that name each value of an attribute in a caption (a fill has synonyms).
MENTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "shape": {s: (s,) for s in ATTRIBUTES["shape"]},
    "colour": {c: (c,) for c in ATTRIBUTES["colour"]},
    "fill": {
        "solid": ("solid", "plain", "uniform"),
        "striped": ("striped", "stripes", "banded"),
        "dotted": ("dotted", "dots", "spotted"),
        "checkered": ("checkered", "checker", "chequered"),
    },
}

try:  # the kit's prompt builder, when the captions package is present
    from ..captions.prompts import build_prompt
except ImportError:  # pragma: no cover - only while mmft_kit.captions is absent
    def build_prompt(class_name: str, domain: str, characteristic: str = "visual", words: int = 50) -> str:
        """The synthetic-captions prompt of Enomoto & Yamaguchi."""
        return (
            f"To differentiate this {clean_classname(class_name)} photo from other {domain} photos, describe its "
            f"primary {characteristic} characteristics based on the photo in {words} words."
        )


@dataclass(frozen=True)
class VLMRecipe:
    """Everything that changes the embedded VLM: architecture, data, optimisation and evaluation."""

    image_size: int = 32
    patch_size: int = 8
    vision_width: int = 128
    vision_layers: int = 3
    text_width: int = 128
    text_layers: int = 3
    heads: int = 4
    mlp_ratio: int = 2
    characteristics: tuple[str, ...] = ("visual", "shape", "texture")
    word_budgets: tuple[int, ...] = (10, 20, 30, 50)
    vocab_samples: int = 2000
    invented_name_fraction: float = 0.5
    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    seed: int = 0
    eval_images: int = 48
    eval_words: int = 50
    max_new_tokens: int = 80

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise InvalidInputError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        unknown = set(self.characteristics) - {"visual", "shape", "texture"}
        if unknown:
            raise InvalidInputError(f"unknown characteristic(s) {sorted(unknown)}; use visual, shape or texture")
        if not self.word_budgets or min(self.word_budgets) < 1:
            raise InvalidInputError(f"word_budgets must be positive integers; got {self.word_budgets}")


#: ``ci``: built in seconds for tests; ``default``: the captioner notebooks and benchmarks use.
VLM_RECIPES: dict[str, VLMRecipe] = {
    "ci": VLMRecipe(steps=200, eval_images=24),
    "default": VLMRecipe(steps=1200, eval_images=96),
}


def _invented_name(rng: np.random.Generator) -> str:
    words = [
        "".join(_SYLLABLES[i] for i in rng.integers(len(_SYLLABLES), size=rng.integers(2, 4)))
        for _ in range(rng.integers(1, 3))
    ]
    return " ".join(words)


def _class_and_domain(rng: np.random.Generator, invented_fraction: float) -> tuple[str, str]:
    """A class name and domain for a training prompt: a world task's, or invented words."""
    task = list(WORLD_TASKS.values())[rng.integers(len(WORLD_TASKS))]
    name = list(task.classes)[rng.integers(len(task.classes))]
    domain = task.domain
    if rng.random() < invented_fraction:
        name = _invented_name(rng)
    if rng.random() < invented_fraction:
        domain = _invented_name(rng)
    return name, domain


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)])


def _vocabulary(recipe: VLMRecipe) -> list[str]:
    """Every word of the world's prompts and captions, sorted."""
    rng = np.random.default_rng(recipe.seed)
    texts = ["system: user: assistant:", build_prompt("x", "x", "visual", 50), *_NUMBER_WORDS, "0 1 2 3 4 5 6 7 8 9"]
    texts += [clean_classname(name) for task in WORLD_TASKS.values() for name in task.classes]
    texts += [task.domain for task in WORLD_TASKS.values()]
    texts += [" ".join(values) for values in ATTRIBUTES.values()]
    texts += ["visual shape texture"]
    for _ in range(recipe.vocab_samples):
        attrs = sample_attributes(rng)
        texts += [describe_characteristic(attrs, c, 1000, rng) for c in ("visual", "shape", "texture")]
    split = _pre_tokenizer()
    words = {w.lower() for text in texts for w, _ in split.pre_tokenize_str(text)}
    return sorted(words - {"x"})


def build_tokenizer(words: Sequence[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over ``words`` (lower-cased, punctuation and digits split) with special tokens."""
    specials = [PAD, BOS, EOS, UNK, IMAGE]
    vocab = {token: i for i, token in enumerate([*specials, *words])}
    core = Tokenizer(WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = _pre_tokenizer()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        extra_special_tokens={"image_token": IMAGE}, padding_side="left",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE]})
    return tokenizer


def build_processor(recipe: VLMRecipe, tokenizer: PreTrainedTokenizerFast) -> LlavaProcessor:
    """A LlavaProcessor: CLIP image preprocessing at the recipe's size and the chat template."""
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": recipe.image_size},
        crop_size={"height": recipe.image_size, "width": recipe.image_size},
    )
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=recipe.patch_size,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE, image_token=IMAGE,
    )


def build_model(recipe: VLMRecipe, tokenizer: PreTrainedTokenizerFast) -> LlavaForConditionalGeneration:
    """A randomly initialised tiny LLaVA for ``tokenizer``'s vocabulary."""
    vision = CLIPVisionConfig(
        hidden_size=recipe.vision_width, intermediate_size=recipe.mlp_ratio * recipe.vision_width,
        num_hidden_layers=recipe.vision_layers, num_attention_heads=recipe.heads,
        image_size=recipe.image_size, patch_size=recipe.patch_size,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=recipe.text_width, intermediate_size=recipe.mlp_ratio * recipe.text_width,
        num_hidden_layers=recipe.text_layers, num_attention_heads=recipe.heads, num_key_value_heads=recipe.heads,
        max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    config = LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids(IMAGE),
        image_seq_length=(recipe.image_size // recipe.patch_size) ** 2,
        vision_feature_select_strategy="default", vision_feature_layer=-1, tie_word_embeddings=True,
    )
    model = LlavaForConditionalGeneration(config)
    model.generation_config.update(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, max_new_tokens=recipe.max_new_tokens, do_sample=False,
    )
    return model


def chat_prompt(processor: LlavaProcessor, prompt: str) -> str:
    """The chat-templated text for one image and one instruction, ready for generation."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True)


def _training_batch(recipe: VLMRecipe, processor: LlavaProcessor, rng: np.random.Generator) -> dict:
    """Fresh world images with prompts and target captions; labels only on the answer tokens."""
    images, texts, answers = [], [], []
    words = int(recipe.word_budgets[rng.integers(len(recipe.word_budgets))])  # one budget a batch: little padding
    for _ in range(recipe.batch_size):
        attrs = sample_attributes(rng)
        images.append(render(attrs, size=recipe.image_size, rng=rng))
        characteristic = recipe.characteristics[rng.integers(len(recipe.characteristics))]
        name, domain = _class_and_domain(rng, recipe.invented_name_fraction)
        answer = describe_characteristic(attrs, characteristic, words, rng) + EOS
        texts.append(chat_prompt(processor, build_prompt(name, domain, characteristic, words)) + " " + answer)
        answers.append(answer)
    batch = processor(images=images, text=texts, padding=True, padding_side="right", return_tensors="pt")
    answer_lengths = [len(ids) for ids in processor.tokenizer(answers, add_special_tokens=False)["input_ids"]]
    labels = torch.full_like(batch["input_ids"], -100)
    for row, (end, length) in enumerate(zip(batch["attention_mask"].sum(1).tolist(), answer_lengths)):
        labels[row, end - length:end] = batch["input_ids"][row, end - length:end]
    batch["labels"] = labels
    return batch


@torch.no_grad()
def caption_images(
    model: LlavaForConditionalGeneration, processor: LlavaProcessor, images: Sequence[np.ndarray],
    prompts: Sequence[str], max_new_tokens: int = 80, batch_size: int = 32,
) -> list[str]:
    """Greedy captions for ``images`` (uint8 H×W×3) answering ``prompts`` (one per image), batched."""
    if len(images) != len(prompts):
        raise InvalidInputError(f"got {len(images)} images but {len(prompts)} prompts; pass one prompt per image")
    processor.tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    captions: list[str] = []
    for start in range(0, len(images), batch_size):
        texts = [chat_prompt(processor, p) for p in prompts[start:start + batch_size]]
        inputs = processor(images=list(images[start:start + batch_size]), text=texts, padding=True,
                           return_tensors="pt").to(device)
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        captions += processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    return captions


def mention_rates(captions: Sequence[str], attrs: Sequence[Attributes]) -> dict[str, float]:
    """Per attribute (shape, colour, fill): the share of captions that name the image's true value."""
    words = [set(re.findall(r"[a-z]+", c.lower())) for c in captions]
    return {
        attribute: float(np.mean([bool(w & set(names[getattr(a, attribute)])) for w, a in zip(words, attrs)]))
        for attribute, names in MENTIONS.items()
    }


def evaluate_vlm(
    model: LlavaForConditionalGeneration, processor: LlavaProcessor, recipe: VLMRecipe, seed: int
) -> dict[str, dict[str, float]]:
    """Mention rates on held-out world images (any style) for each characteristic's prompt."""
    rng = np.random.default_rng(seed)
    attrs = [sample_attributes(rng) for _ in range(recipe.eval_images)]
    images = [render(a, size=recipe.image_size, rng=rng) for a in attrs]
    report = {}
    for characteristic in recipe.characteristics:
        prompts = [build_prompt("object", "world", characteristic, recipe.eval_words)] * len(images)
        captions = caption_images(model, processor, images, prompts, recipe.max_new_tokens)
        report[characteristic] = mention_rates(captions, attrs)
        report[characteristic]["mean_words"] = float(np.mean([len(re.findall(r"[a-z]+", c)) for c in captions]))
    return report


def build_vlm(recipe: VLMRecipe, out_dir: Path, progress: bool = True, device: str | None = None) -> dict:
    """Train the embedded VLM for ``recipe``, save model and processor into ``out_dir``; return a report."""
    start = time.perf_counter()
    generator = seed_everything(recipe.seed)
    del generator
    device_ = resolve_device(device)
    tokenizer = build_tokenizer(_vocabulary(recipe))
    processor = build_processor(recipe, tokenizer)
    model = build_model(recipe, tokenizer).to(device_)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)

    def schedule(step: int) -> float:
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rng = np.random.default_rng(recipe.seed)
    model.train()
    losses = []
    bar = tqdm(range(recipe.steps), desc="embedded VLM", disable=not progress)
    for _ in bar:
        batch = _training_batch(recipe, processor, rng).to(device_)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    train_seconds = time.perf_counter() - start
    model.eval()
    quality = evaluate_vlm(model, processor, recipe, seed=recipe.seed + 10_000)
    out_dir = Path(out_dir)
    model.to("cpu").save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return {
        "recipe": asdict(recipe),
        "build_seconds": round(time.perf_counter() - start, 2),
        "train_seconds": round(train_seconds, 2),
        "parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": float(np.mean(losses[-20:])),
        "quality": quality,
    }
