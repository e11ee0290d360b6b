"""The embedded multimodal LLM: a tiny LLaVA-style captioner instruction-tuned on the world.

A CLIP vision tower and a Llama decoder (``LlavaForConditionalGeneration``), a word-level
tokenizer built in memory from the world's vocabulary, and a ``LlavaProcessor`` with a chat
template. It is built as LLaVA is, in two stages: the vision tower first learns to see the
world's attributes (LLaVA starts from a pretrained CLIP; there is none offline, so it is
pretrained here on attribute labels through its pooled CLS output), then, with the tower
frozen, projector and decoder are instruction-tuned on world images paired with the
synthetic-captions prompt ("To differentiate this {class_name} photo from other {domain} photos,
describe its primary {characteristic} characteristics ... in {words} words.") and a caption from
:mod:`~mmft_kit.embedded.caption_corpus`, written as real MLLMs write (varied sentences, class name
and category, off-topic words and hedges at real rates, length about the budget), whose phrasing
follows the image, so that captions sampled at the paper's low temperature still differ from image
to image. The prompts
vary as users vary them: every characteristic of the template library and unknown words, budgets
from 5 to 130 words, class names and domains of every world task paired with any image (so the
model copies the name it is given rather than recognising the class), names it cannot read, and
templates without some of the slots. The saved folder loads through ``AutoProcessor`` and
``AutoModelForImageTextToText`` as a hub model does.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, pre_tokenizers
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
from ..data.world import ATTRIBUTES, Attributes, render, sample_attributes
from ..errors import InvalidInputError
from ..optim import decay_groups, make_scheduler
from ..text import clean_classname
from . import caption_corpus
from . import reproducible as reproducible_module
from .caption_corpus import CHARACTERISTICS, word_count, write_caption
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

#: Word budgets a prompt can ask for and the tokenizer reads as one token each (larger ones are unknown).
MAX_BUDGET = 200
_SYLLABLES = ("ka", "lo", "mi", "ren", "tu", "vas", "zor", "pel", "qui", "dra", "nox", "bel", "sin", "gra", "vo")

#: Words that name each value of an attribute in a caption (with the corpus's synonyms).
MENTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "shape": {"circle": ("circle", "disc", "round", "circular"), "square": ("square",),
              "triangle": ("triangle", "triangular"), "diamond": ("diamond", "rhombus", "rhombic"),
              "cross": ("cross", "plus"), "star": ("star", "spiky")},
    "colour": {"red": ("red", "crimson"), "orange": ("orange", "amber", "tangerine"),
               "yellow": ("yellow", "golden", "lemon"), "green": ("green", "emerald"),
               "blue": ("blue", "cobalt", "azure"), "purple": ("purple", "violet", "plum")},
    "fill": {
        "solid": ("solid", "uniform"),
        "striped": ("striped", "stripes", "banded", "bands", "lined"),
        "dotted": ("dotted", "dots", "spotted", "spots", "speckled"),
        "checkered": ("checkered", "checker", "chequered", "checked", "checks", "checkerboard"),
    },
}

#: Prompts with some slots missing, as users write them (the default template is used four times in five).
ALTERNATE_TEMPLATES = (
    "Describe the {characteristic} characteristics of this {domain} photo.",
    "Describe this {class_name} photo in {words} words.",
    "What {characteristic} characteristics distinguish this {class_name} from other {domain}? Answer in {words} words.",
    "Describe the {characteristic} of this {class_name} in {words} words.",
    "Describe this photo.",
)


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
    # stage 1: the vision tower learns the world's attributes (6000 steps: shape and position are learnt late)
    vision_steps: int = 6000
    vision_batch_size: int = 32
    vision_lr: float = 1e-3
    vision_warmup_steps: int = 300  # without a long warm-up the tower can settle without reading position
    # stage 2: instruction tuning of projector and decoder
    steps: int = 1800
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    characteristics: tuple[str, ...] = CHARACTERISTICS
    main_characteristic_fraction: float = 0.7  # visual, shape, texture; the rest: other library ones
    unknown_characteristic_fraction: float = 0.08  # an unreadable word: the general caption
    word_budget_range: tuple[int, int] = (5, 130)  # drawn log-uniformly, or uniformly from 40 up
    long_budget_fraction: float = 0.4  # batches whose budget is drawn uniformly from 40 up (long captions)
    invented_name_fraction: float = 0.1  # an unreadable class name: the caption names only the category
    alternate_template_fraction: float = 0.2
    decision_weight: float = 4.0  # loss weight of the copied class name and of each go-on-or-stop token
    vocab_samples: int = 2000
    seed: int = 0
    # evaluation on held-out images
    eval_images: int = 48
    eval_words: tuple[int, ...] = (10, 50, 120)
    max_new_tokens: int = 200
    repetition_penalty: float = 1.05  # in the saved generation config, as Qwen2.5-VL ships it

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise InvalidInputError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        unknown = set(self.characteristics) - set(CHARACTERISTICS)
        if unknown:
            raise InvalidInputError(f"unknown characteristic(s) {sorted(unknown)}; the corpus has {CHARACTERISTICS}")
        low, high = self.word_budget_range
        if not 1 <= low <= high <= MAX_BUDGET:
            raise InvalidInputError(f"word_budget_range must lie within 1..{MAX_BUDGET}; got {self.word_budget_range}")


#: ``ci``: seconds to build, rough captions (tests); ``default``: the captioner notebooks and benchmarks use.
VLM_RECIPES: dict[str, VLMRecipe] = {
    "ci": VLMRecipe(vision_steps=1000, vision_warmup_steps=100, steps=500, eval_images=16),
    "default": VLMRecipe(),
}

#: Code besides this module whose behaviour decides the weights (the zoo's recipe hash covers it).
WEIGHT_SOURCES = (world, caption_corpus, reproducible_module, decay_groups, make_scheduler)


def weight_inputs(recipe: VLMRecipe) -> dict:
    """The data a build takes from other modules (world tasks' names, the caption prompt), for the recipe hash.

    Hashing these rather than their modules' code lets those modules change in other ways (new
    tasks elsewhere, new templates) without invalidating the model.
    """
    return {
        "tasks": [[task.domain, [[name, clean_classname(name)] for name in task.classes]]
                  for task in WORLD_TASKS.values()],
        "prompts": [build_prompt("class name", "domain", "characteristic", 50)],
    }


# --- tokenizer and processor -------------------------------------------------------------------


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """Words, numbers and punctuation marks become tokens of their own."""
    return pre_tokenizers.Whitespace()


def world_vocabulary(seed: int = 0, samples: int = 2000) -> list[str]:
    """Every word of the prompts and of the corpus's captions (cased), the world's class names and
    domains, and the numbers 0 to :data:`MAX_BUDGET`, sorted."""
    rng = np.random.default_rng(seed)
    names = [clean_classname(name) for task in WORLD_TASKS.values() for name in task.classes]
    domains = [task.domain for task in WORLD_TASKS.values()]
    texts = ["system: user: assistant:", *names, *domains, " ".join(CHARACTERISTICS),
             *(str(n) for n in range(MAX_BUDGET + 1)), *(" ".join(values) for values in ATTRIBUTES.values())]
    texts += [build_prompt("x", "x", "x", 50), *(t.format(class_name="x", domain="x", characteristic="x", words=50)
                                                 for t in ALTERNATE_TEMPLATES)]
    for i in range(samples):
        attrs = sample_attributes(rng)
        domain = domains[i % len(domains)] if i % 5 else None
        texts += [write_caption(attrs, c, 200, rng, names[i % len(names)], domain) for c in CHARACTERISTICS]
        texts += [write_caption(attrs, "visual", w, rng, names[i % len(names)], d) for w in (5, 8) for d in (domain, None)]
    split = _pre_tokenizer()
    words = {word for text in texts for word, _ in split.pre_tokenize_str(text)}
    words |= {form for word in words if word.isalpha() for form in (word.lower(), word.capitalize())}
    return sorted(words - {"x", "X"})


def build_tokenizer(words: Sequence[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over ``words`` (cased; punctuation split off) with special tokens."""
    vocab = {token: i for i, token in enumerate([PAD, BOS, EOS, UNK, IMAGE, *words])}
    core = Tokenizer(WordLevel(vocab, unk_token=UNK))
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
        repetition_penalty=recipe.repetition_penalty,
    )
    _initialise_word_embeddings(model, tokenizer)
    return model


@torch.no_grad()
def _initialise_word_embeddings(model: LlavaForConditionalGeneration, tokenizer: PreTrainedTokenizerFast) -> None:
    """Give the embeddings two priors a pretrained LLM has. A capitalised word starts as its lower-case
    word ("This" as "this"), so the prompt's "this {class_name}" and the caption's "This {class_name}"
    match from the start and copying the name is easy to learn. The embedding of each number n starts
    between two random ends, at log n: a word budget's size is then one direction of its embedding, so
    every budget teaches the others (each number token alone is seen in few batches)."""
    weight = model.get_input_embeddings().weight
    vocab = tokenizer.get_vocab()
    pairs = [(i, vocab[w.lower()]) for w, i in vocab.items() if w[:1].isupper() and w.lower() in vocab]
    weight[[i for i, _ in pairs]] = weight[[j for _, j in pairs]]
    ids = tokenizer.convert_tokens_to_ids([str(n) for n in range(1, MAX_BUDGET + 1)])
    low, high = weight[ids[0]].clone(), weight[ids[-1]].clone()
    position = torch.log(torch.arange(1, MAX_BUDGET + 1, dtype=weight.dtype)) / np.log(MAX_BUDGET)
    weight[ids] = (1 - position)[:, None] * low + position[:, None] * high


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
    """One or two made-up words (out of the vocabulary: the model cannot read them)."""
    return " ".join(
        "".join(_SYLLABLES[i] for i in rng.integers(len(_SYLLABLES), size=rng.integers(2, 4)))
        for _ in range(rng.integers(1, 3))
    )


def _class_and_domain(rng: np.random.Generator, invented_fraction: float) -> tuple[str, str | None, str]:
    """A prompt's class name, the name the caption copies (``None`` when unreadable) and its domain: a world
    task's name and domain drawn regardless of the image, so the model copies rather than recognises."""
    task = list(WORLD_TASKS.values())[rng.integers(len(WORLD_TASKS))]
    name = clean_classname(list(task.classes)[rng.integers(len(task.classes))])
    if rng.random() < invented_fraction:
        name = _invented_name(rng)
        return name, None, task.domain
    return name, name, task.domain


def _characteristic(recipe: VLMRecipe, rng: np.random.Generator) -> str:
    """The asked characteristic: a main one, another of the library's, or a word the model cannot read."""
    draw = rng.random()
    if draw < recipe.unknown_characteristic_fraction:
        return _invented_name(rng)
    main = [c for c in recipe.characteristics if c in ("visual", "shape", "texture")] or list(recipe.characteristics)
    others = [c for c in recipe.characteristics if c not in main] or main
    pool = main if draw < recipe.unknown_characteristic_fraction + recipe.main_characteristic_fraction else others
    return pool[rng.integers(len(pool))]


def word_budget(recipe: VLMRecipe, rng: np.random.Generator) -> int:
    """A word budget: log-uniform over the recipe's range (each octave as often), or, for a
    ``long_budget_fraction`` of batches, uniform from 40 words up (long captions need more practice)."""
    low, high = recipe.word_budget_range
    if rng.random() < recipe.long_budget_fraction:
        return int(rng.integers(min(max(low, 40), high), high + 1))
    return int(round(np.exp(rng.uniform(np.log(low), np.log(high)))))


def training_example(recipe: VLMRecipe, attrs: Attributes, words: int, rng: np.random.Generator
                     ) -> tuple[str, str, str | None]:
    """One instruction-tuning pair for an image: the prompt, the caption it should get and the class name
    the caption copies from the prompt (``None``: none).

    The default template four times in five (``alternate_template_fraction``), else a template
    without some slots; the caption follows what the prompt gives (no budget: about 45 words; no
    class name: the category alone; no characteristic: the general caption).
    """
    name, copied, domain = _class_and_domain(rng, recipe.invented_name_fraction)
    characteristic = _characteristic(recipe, rng)
    if rng.random() >= recipe.alternate_template_fraction:
        return build_prompt(name, domain, characteristic, words), write_caption(
            attrs, characteristic, words, rng, copied, domain), copied
    template = ALTERNATE_TEMPLATES[rng.integers(len(ALTERNATE_TEMPLATES))]
    prompt = template.format(class_name=name, domain=domain, characteristic=characteristic, words=words)
    copied = copied if "{class_name}" in template else None
    return prompt, write_caption(
        attrs, characteristic if "{characteristic}" in template else "general",
        words if "{words}" in template else None, rng, copied, domain if "{domain}" in template else None), copied


def _instruction_batch(recipe: VLMRecipe, processor: LlavaProcessor, rng: np.random.Generator) -> dict:
    """World images, prompts and target captions; labels only on the answer tokens (and its end token)."""
    attrs, images = _world_images(recipe.batch_size, recipe.image_size, rng)
    words = word_budget(recipe, rng)  # one budget a batch: little padding
    texts, answers, names = [], [], []
    for a in attrs:
        prompt, caption, copied = training_example(recipe, a, words, rng)
        answer = caption + EOS
        texts.append(chat_prompt(processor, prompt) + " " + answer)
        answers.append(answer)
        names.append(copied)
    # what the processor does to the text: one image token per image feature
    expanded = [t.replace(IMAGE, IMAGE * _image_tokens(processor)) for t in texts]
    batch = processor.tokenizer(expanded, padding=True, padding_side="right", return_tensors="pt")
    answer_lengths = [len(ids) for ids in processor.tokenizer(answers, add_special_tokens=False)["input_ids"]]
    labels = torch.full_like(batch["input_ids"], -100)
    for row, (end, length) in enumerate(zip(batch["attention_mask"].sum(1).tolist(), answer_lengths)):
        labels[row, end - length:end] = batch["input_ids"][row, end - length:end]
    weights = _label_weights(processor.tokenizer, labels, names, recipe.decision_weight)
    return {**batch, "labels": labels, "label_weights": weights, "pixel_values": pixel_values(processor, images)}


def _label_weights(tokenizer: PreTrainedTokenizerFast, labels: torch.Tensor, names: list[str | None],
                   weight: float) -> torch.Tensor:
    """Loss weight of every label: ``weight`` on the few tokens that carry the prompt's instructions (the
    copied class name; the token after each full stop, where the caption goes on or ends), 1 elsewhere.

    These decisions are one or two tokens of a fifty-token caption, so an unweighted loss barely asks for
    them; weighting them teaches a small decoder to copy the name and to stop near the budget."""
    weights = (labels != -100).float()
    stop = tokenizer.convert_tokens_to_ids(".")
    after_stop = torch.zeros_like(weights, dtype=torch.bool)
    after_stop[:, 1:] = labels[:, :-1] == stop
    weights[after_stop & (labels != -100)] = weight
    for row, name in enumerate(names):
        if name:
            ids = torch.tensor(tokenizer(name, add_special_tokens=False)["input_ids"])
            weights[row, torch.isin(labels[row], ids)] = weight
    return weights


def weighted_caption_loss(model: LlavaForConditionalGeneration, batch: dict) -> torch.Tensor:
    """Next-token cross-entropy over the answer, each label weighted by ``batch["label_weights"]``."""
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "label_weights")}
    logits = model(**inputs).logits[:, :-1]
    labels, weights = batch["labels"][:, 1:], batch["label_weights"][:, 1:]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1),
                                             ignore_index=-100, reduction="none")
    return (loss * weights.reshape(-1)).sum() / weights.sum()


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
    scheduler = make_scheduler(optimizer, "cosine", recipe.vision_steps, recipe.vision_warmup_steps)
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
        loss = weighted_caption_loss(model, batch)
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


def wrong_mention_rates(captions: Sequence[str], attrs: Sequence[Attributes]) -> dict[str, float]:
    """Per attribute (shape, colour, fill): the share of captions that name a value the image does not have."""
    words = [set(re.findall(r"[a-z]+", c.lower())) for c in captions]
    return {
        attribute: float(np.mean([any(w & set(n) for v, n in names.items() if v != getattr(a, attribute))
                                  for w, a in zip(words, attrs)]))
        for attribute, names in MENTIONS.items()
    }


def evaluate_vlm(
    model: LlavaForConditionalGeneration, processor: LlavaProcessor, recipe: VLMRecipe, seed: int
) -> dict[str, dict[str, float]]:
    """On held-out world images (any style), asked with world class names and domains: per main
    characteristic at 50 words, mention rates, mean length and the share naming the class; per budget of
    ``eval_words``, the mean length of visual captions."""
    rng = np.random.default_rng(seed)
    attrs, images = _world_images(recipe.eval_images, recipe.image_size, rng)
    tasks = list(WORLD_TASKS.values())
    asked = [tasks[rng.integers(len(tasks))] for _ in attrs]
    names = [clean_classname(list(t.classes)[rng.integers(len(t.classes))]) for t in asked]

    def captions(characteristic: str, words: int) -> list[str]:
        prompts = [build_prompt(n, t.domain, characteristic, words) for n, t in zip(names, asked)]
        return caption_images(model, processor, list(images), prompts, recipe.max_new_tokens)

    report: dict[str, dict[str, float]] = {}
    for characteristic in ("visual", "shape", "texture"):
        written = captions(characteristic, 50)
        report[characteristic] = mention_rates(written, attrs)
        report[characteristic]["mean_words"] = float(np.mean([word_count(c) for c in written]))
        report[characteristic]["class_name"] = float(np.mean([f" {n} " in f" {c} " for n, c in zip(names, written)]))
    report["mean_words_by_budget"] = {str(w): float(np.mean([word_count(c) for c in captions("visual", w)]))
                                      for w in recipe.eval_words}
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
