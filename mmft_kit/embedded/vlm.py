"""The embedded multimodal LLM: a tiny LLaVA-style captioner instruction-tuned on the world.

A CLIP vision tower and a Llama decoder (``LlavaForConditionalGeneration``), a word-level
tokenizer built in memory from the world's vocabulary, and a ``LlavaProcessor`` with a chat
template. It is built as LLaVA is, in two stages: the vision tower first learns to see the
world's attributes (LLaVA starts from a pretrained CLIP; there is none offline, so it is
pretrained here on attribute labels through its pooled CLS output), then, with the tower
frozen, projector and decoder are instruction-tuned on world images paired with the
synthetic-captions prompt ("... describe its primary {characteristic} characteristics ... in
{words} words.") and the world's caption for that characteristic and length. The saved folder
loads through ``AutoProcessor`` and ``AutoModelForImageTextToText`` as a hub model does.
"""

from __future__ import annotations

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

from ..captions.prompts import build_prompt
from ..data import world
from ..data.tasks import WORLD_TASKS
from ..data.world import ATTRIBUTES, Attributes, describe_characteristic, render, sample_attributes
from ..errors import InvalidInputError
from ..optim import decay_groups, make_scheduler
from ..text import clean_classname
from . import reproducible as reproducible_module
from .reproducible import BUILD_DEVICE, reproducible

BOS, EOS, PAD, UNK, IMAGE = "<s>", "</s>", "<pad>", "[UNK]", "<image>"
_ALIGN_SCALE = 16.0  # logit scale of the stage-1 cosine similarities

#: ``user: <image> {prompt}`` then ``assistant: {answer}</s>``; content is a string or a list of parts.
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
)
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


@dataclass(frozen=True)
class VLMRecipe:
    """Everything that changes the embedded VLM: architecture, both training stages and evaluation."""

    image_size: int = 32
    patch_size: int = 4
    vision_width: int = 96
    vision_layers: int = 4
    text_width: int = 128
    text_layers: int = 3
    vision_heads: int = 3
    text_heads: int = 4
    mlp_ratio: int = 2
    # stage 1: the vision tower learns the world's attributes
    vision_steps: int = 2000
    vision_batch_size: int = 32
    vision_lr: float = 1e-3
    # stage 2: instruction tuning of projector and decoder
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    characteristics: tuple[str, ...] = ("visual", "shape", "texture")
    word_budgets: tuple[int, ...] = (10, 20, 30, 50)
    invented_name_fraction: float = 0.5
    vocab_samples: int = 2000
    seed: int = 0
    # evaluation on held-out images
    eval_images: int = 96
    eval_words: int = 50
    max_new_tokens: int = 80

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise InvalidInputError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        unknown = set(self.characteristics) - {"visual", "shape", "texture"}
        if unknown:
            raise InvalidInputError(f"unknown characteristic(s) {sorted(unknown)}; the world has visual, shape, texture")
        if not self.word_budgets or min(self.word_budgets) < 1:
            raise InvalidInputError(f"word_budgets must be positive whole numbers; got {self.word_budgets}")


#: ``ci``: seconds to build, rough captions (tests); ``default``: the captioner notebooks and benchmarks use.
VLM_RECIPES: dict[str, VLMRecipe] = {
    "ci": VLMRecipe(vision_steps=500, steps=300, eval_images=24),
    "default": VLMRecipe(),
}

#: Code besides this module whose behaviour decides the weights (the zoo's recipe hash covers it).
WEIGHT_SOURCES = (world, reproducible_module, decay_groups, make_scheduler)


def weight_inputs(recipe: VLMRecipe) -> dict:
    """The data a build takes from other modules (world tasks' names, the caption prompt), for the recipe hash.

    Hashing these rather than their modules' code lets those modules change in other ways (new
    tasks elsewhere, new templates) without invalidating the model.
    """
    return {
        "tasks": [[task.domain, [[name, clean_classname(name)] for name in task.classes]]
                  for task in WORLD_TASKS.values()],
        "prompts": [build_prompt("class name", "domain", c, w) for c in ("visual", "shape", "texture")
                    for w in sorted({*recipe.word_budgets, recipe.eval_words, 50})],
    }


# --- tokenizer and processor -------------------------------------------------------------------


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Words, punctuation marks and single digits become tokens of their own."""
    return pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)])


def world_vocabulary(seed: int = 0, samples: int = 2000) -> list[str]:
    """Every word of the world's prompts and captions (plus digits and number words), sorted."""
    rng = np.random.default_rng(seed)
    texts = ["system: user: assistant:", build_prompt("x", "x", "visual", 50), _NUMBER_WORDS, "0 1 2 3 4 5 6 7 8 9"]
    texts += [clean_classname(name) for task in WORLD_TASKS.values() for name in task.classes]
    texts += [task.domain for task in WORLD_TASKS.values()]
    texts += [" ".join(values) for values in ATTRIBUTES.values()]
    texts += ["visual shape texture"]
    for _ in range(samples):
        attrs = sample_attributes(rng)
        texts += [describe_characteristic(attrs, c, 1000, rng) for c in ("visual", "shape", "texture")]
    split = _pre_tokenizer()
    words = {word.lower() for text in texts for word, _ in split.pre_tokenize_str(text)}
    return sorted(words - {"x"})


def build_tokenizer(words: Sequence[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over ``words`` (lower-cased; punctuation and digits split off) with special tokens."""
    vocab = {token: i for i, token in enumerate([PAD, BOS, EOS, UNK, IMAGE, *words])}
    core = Tokenizer(WordLevel(vocab, unk_token=UNK))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = _pre_tokenizer()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words; "word ." → "word."
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        extra_special_tokens={"image_token": IMAGE}, padding_side="left",
    )


def build_processor(recipe: VLMRecipe, tokenizer: PreTrainedTokenizerFast) -> LlavaProcessor:
    """A LlavaProcessor: CLIP preprocessing at the recipe's image size, the tokenizer and the chat template."""
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": recipe.image_size}, crop_size={"height": recipe.image_size, "width": recipe.image_size},
    )
    # the tower's CLS token is one of the image features ("full" strategy), one more than the patches
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=recipe.patch_size,
        vision_feature_select_strategy="full", num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE, image_token=IMAGE,
    )


def build_model(recipe: VLMRecipe, tokenizer: PreTrainedTokenizerFast) -> LlavaForConditionalGeneration:
    """A randomly initialised tiny LLaVA for ``tokenizer``'s vocabulary."""
    vision = CLIPVisionConfig(
        hidden_size=recipe.vision_width, intermediate_size=recipe.mlp_ratio * recipe.vision_width,
        num_hidden_layers=recipe.vision_layers, num_attention_heads=recipe.vision_heads,
        image_size=recipe.image_size, patch_size=recipe.patch_size,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=recipe.text_width, intermediate_size=recipe.mlp_ratio * recipe.text_width,
        num_hidden_layers=recipe.text_layers, num_attention_heads=recipe.text_heads, num_key_value_heads=recipe.text_heads,
        max_position_embeddings=512, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    config = LlavaConfig(
        vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids(IMAGE),
        image_seq_length=(recipe.image_size // recipe.patch_size) ** 2 + 1,
        vision_feature_select_strategy="full", vision_feature_layer=-1, tie_word_embeddings=True,
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


def pixel_values(processor: LlavaProcessor, images: np.ndarray) -> torch.Tensor:
    """CLIP-normalised ``(N, 3, H, W)`` pixels of uint8 images already at the processor's crop size.

    What ``processor.image_processor`` returns for such images (resize and crop do nothing),
    without its per-image overhead: the training loops call this on every batch.
    """
    ip = processor.image_processor
    mean = torch.tensor(ip.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(ip.image_std).view(1, 3, 1, 1)
    return (torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0 - mean) / std


# --- training data ------------------------------------------------------------------------------


def _world_images(n: int, size: int, rng: np.random.Generator) -> tuple[list[Attributes], np.ndarray]:
    attrs = [sample_attributes(rng) for _ in range(n)]
    return attrs, np.stack([render(a, size=size, rng=rng) for a in attrs])


def _invented_name(rng: np.random.Generator) -> str:
    """One or two made-up words (out of the vocabulary: the caption must not lean on the class name)."""
    return " ".join(
        "".join(_SYLLABLES[i] for i in rng.integers(len(_SYLLABLES), size=rng.integers(2, 4)))
        for _ in range(rng.integers(1, 3))
    )


def _class_and_domain(rng: np.random.Generator, invented_fraction: float) -> tuple[str, str]:
    """A class name and domain for a training prompt: a world task's, or invented words; unrelated to the image."""
    task = list(WORLD_TASKS.values())[rng.integers(len(WORLD_TASKS))]
    name = list(task.classes)[rng.integers(len(task.classes))]
    name = _invented_name(rng) if rng.random() < invented_fraction else name
    domain = _invented_name(rng) if rng.random() < invented_fraction else task.domain
    return name, domain


def _instruction_batch(recipe: VLMRecipe, processor: LlavaProcessor, rng: np.random.Generator) -> dict:
    """World images, prompts and target captions; labels only on the answer tokens (and its end token)."""
    attrs, images = _world_images(recipe.batch_size, recipe.image_size, rng)
    words = int(recipe.word_budgets[rng.integers(len(recipe.word_budgets))])  # one budget a batch: little padding
    texts, answers = [], []
    for a in attrs:
        characteristic = recipe.characteristics[rng.integers(len(recipe.characteristics))]
        name, domain = _class_and_domain(rng, recipe.invented_name_fraction)
        answer = describe_characteristic(a, characteristic, words, rng) + EOS
        texts.append(chat_prompt(processor, build_prompt(name, domain, characteristic, words)) + " " + answer)
        answers.append(answer)
    # what the processor does to the text: one image token per image feature
    expanded = [t.replace(IMAGE, IMAGE * _image_tokens(processor)) for t in texts]
    batch = processor.tokenizer(expanded, padding=True, padding_side="right", return_tensors="pt")
    answer_lengths = [len(ids) for ids in processor.tokenizer(answers, add_special_tokens=False)["input_ids"]]
    labels = torch.full_like(batch["input_ids"], -100)
    for row, (end, length) in enumerate(zip(batch["attention_mask"].sum(1).tolist(), answer_lengths)):
        labels[row, end - length:end] = batch["input_ids"][row, end - length:end]
    return {**batch, "labels": labels, "pixel_values": pixel_values(processor, images)}


def _image_tokens(processor: LlavaProcessor) -> int:
    crop = processor.image_processor.crop_size
    patches = (crop["height"] // processor.patch_size) * (crop["width"] // processor.patch_size)
    return patches + processor.num_additional_image_tokens - (processor.vision_feature_select_strategy == "default")


# --- the two training stages --------------------------------------------------------------------


def _attribute_logits(model: LlavaForConditionalGeneration, word_ids: list[torch.Tensor], pixels: torch.Tensor
                      ) -> list[torch.Tensor]:
    """Per attribute: scaled cosine between the projected CLS image feature and the decoder's value words."""
    hidden = model.model.vision_tower(pixel_values=pixels, output_hidden_states=True).hidden_states[-1][:, 0]
    feature = torch.nn.functional.normalize(model.model.multi_modal_projector(hidden), dim=-1)
    words = torch.nn.functional.normalize(model.get_input_embeddings().weight.detach(), dim=-1)
    return [_ALIGN_SCALE * feature @ words[ids].T for ids in word_ids]


def _attribute_targets(attrs: Sequence[Attributes]) -> torch.Tensor:
    return torch.tensor([[values.index(getattr(a, name)) for name, values in ATTRIBUTES.items()] for a in attrs])


def align_vision(
    model: LlavaForConditionalGeneration, processor: LlavaProcessor, recipe: VLMRecipe, progress: bool = True
) -> dict[str, float]:
    """Stage 1: teach vision tower and projector to put each image's attribute words into its CLS feature.

    For every attribute (shape, colour, size, fill, position, background, style) the projected
    CLS feature must lie closest to the decoder's embedding of the true value's word (the
    embeddings stay fixed). The decoder then only has to copy words from the image tokens.
    Returns the held-out accuracy per attribute.
    """
    word_ids = [torch.tensor(processor.tokenizer.convert_tokens_to_ids(list(v))) for v in ATTRIBUTES.values()]
    device = next(model.parameters()).device
    word_ids = [ids.to(device) for ids in word_ids]
    named = [*model.model.vision_tower.named_parameters(), *model.model.multi_modal_projector.named_parameters()]
    optimizer = torch.optim.AdamW(decay_groups(named, recipe.weight_decay), lr=recipe.vision_lr)
    scheduler = make_scheduler(optimizer, "cosine", recipe.vision_steps, recipe.warmup_steps)
    rng = np.random.default_rng(recipe.seed + 1)
    model.train()
    bar = tqdm(range(recipe.vision_steps), desc="VLM stage 1: vision alignment", disable=not progress)
    for _ in bar:
        attrs, images = _world_images(recipe.vision_batch_size, recipe.image_size, rng)
        targets = _attribute_targets(attrs).to(device)
        logits = _attribute_logits(model, word_ids, pixel_values(processor, images).to(device))
        loss = sum(torch.nn.functional.cross_entropy(out, targets[:, i]) for i, out in enumerate(logits))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        bar.set_postfix(loss=f"{loss.item():.2f}")
    model.eval()
    attrs, images = _world_images(512, recipe.image_size, np.random.default_rng(recipe.seed + 20_000))
    with torch.no_grad():
        logits = _attribute_logits(model, word_ids, pixel_values(processor, images).to(device))
    targets = _attribute_targets(attrs).to(device)
    return {name: float((out.argmax(-1) == targets[:, i]).float().mean()) for i, (name, out) in
            enumerate(zip(ATTRIBUTES, logits))}


def instruction_tune(
    model: LlavaForConditionalGeneration, processor: LlavaProcessor, recipe: VLMRecipe, progress: bool = True
) -> float:
    """Stage 2: train projector and decoder (tower frozen) to answer caption prompts; returns the final loss."""
    model.model.vision_tower.requires_grad_(False)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(decay_groups(model.named_parameters(), recipe.weight_decay), lr=recipe.lr)
    scheduler = make_scheduler(optimizer, "cosine", recipe.steps, recipe.warmup_steps)
    rng = np.random.default_rng(recipe.seed + 2)
    model.train()
    losses: list[float] = []
    bar = tqdm(range(recipe.steps), desc="VLM stage 2: instruction tuning", disable=not progress)
    for _ in bar:
        batch = {k: v.to(device) for k, v in _instruction_batch(recipe, processor, rng).items()}
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
    model.eval()
    model.model.vision_tower.requires_grad_(True)
    return float(np.mean(losses[-20:]))


# --- captions and their quality ----------------------------------------------------------------


@torch.no_grad()
def caption_images(
    model: LlavaForConditionalGeneration, processor: LlavaProcessor, images: Sequence[np.ndarray],
    prompts: Sequence[str], max_new_tokens: int = 80, batch_size: int = 32,
) -> list[str]:
    """Greedy captions of ``images`` (uint8 H×W×3) for ``prompts`` (one per image), in left-padded batches."""
    if len(images) != len(prompts):
        raise InvalidInputError(f"got {len(images)} images but {len(prompts)} prompts; give one prompt per image")
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
    """Per characteristic prompt: mention rates and mean caption length on held-out world images (any style)."""
    rng = np.random.default_rng(seed)
    attrs, images = _world_images(recipe.eval_images, recipe.image_size, rng)
    report = {}
    for characteristic in recipe.characteristics:
        prompts = [build_prompt(_invented_name(rng), "world", characteristic, recipe.eval_words) for _ in attrs]
        captions = caption_images(model, processor, list(images), prompts, recipe.max_new_tokens)
        report[characteristic] = mention_rates(captions, attrs)
        report[characteristic]["mean_words"] = float(np.mean([len(re.findall(r"[a-z]+", c)) for c in captions]))
    return report


def build_vlm(recipe: VLMRecipe, out_dir: Path, progress: bool = True, device: str = BUILD_DEVICE) -> dict:
    """Build the embedded VLM for ``recipe`` into ``out_dir`` (``save_pretrained`` folder), reproducibly
    (arguments as :func:`mmft_kit.embedded.clip.build_clip`); return the JSON-able build report (times,
    stage-1 accuracy, final loss, caption quality)."""
    with reproducible(recipe.seed):
        return _build_vlm(recipe, Path(out_dir), progress, torch.device(device))


def _build_vlm(recipe: VLMRecipe, out_dir: Path, progress: bool, device: torch.device) -> dict:
    start = time.perf_counter()
    tokenizer = build_tokenizer(world_vocabulary(recipe.seed, recipe.vocab_samples))
    processor = build_processor(recipe, tokenizer)
    model = build_model(recipe, tokenizer).to(device)
    vision_accuracy = align_vision(model, processor, recipe, progress)
    vision_seconds = time.perf_counter() - start
    final_loss = instruction_tune(model, processor, recipe, progress)
    train_seconds = time.perf_counter() - start
    quality = evaluate_vlm(model, processor, recipe, seed=recipe.seed + 10_000)
    model.to("cpu").save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return {
        "recipe": asdict(recipe),
        "build_seconds": round(time.perf_counter() - start, 1),
        "vision_seconds": round(vision_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocabulary": len(tokenizer),
        "vision_accuracy": vision_accuracy,
        "final_loss": final_loss,
        "captions": quality,
    }
