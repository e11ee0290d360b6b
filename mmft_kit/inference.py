"""Classification heads for CLIP-like models, and prediction with them.

A head is an L2-normalised ``[C, D]`` tensor of class embeddings; the logits of an image
are ``logit_scale · f(x) @ head.T``. Three heads:

* :func:`prompt_head` — one prompt per class, ``"a photo of a {class}."`` (FLYP), or the mean
  of several templates (open_clip's zero-shot recipe); :func:`ensemble_head` uses CLIP's
  80 ImageNet templates (FLYP-ens);
* :func:`caption_prototype_head` — the MMFT rule: the normalised mean of a class's training
  captions, each prefixed with the class prompt and normalised.

Models follow open_clip's interface: ``encode_image``, ``encode_text`` and a log-scale
``logit_scale`` parameter. Features, heads and logits come back as float32 CPU tensors.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence, Union

import torch
import torch.nn.functional as F
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES
from sklearn.metrics import accuracy_score
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .errors import InvalidInputError
from .runtime import bar_options, resolve_device
from .text import CLASS_TEMPLATE, class_prompt, clean_classname, with_class_prefix

#: A prompt template: a ``str.format`` string with one ``{}`` or a function of the class name.
Template = Union[str, Callable[[str], str]]

#: FLYP's single prompt.
FLYP_TEMPLATES: tuple[Template, ...] = (CLASS_TEMPLATE,)
#: CLIP's 80 ImageNet prompt templates (FLYP-ens).
ENSEMBLE_TEMPLATES: tuple[Template, ...] = tuple(OPENAI_IMAGENET_TEMPLATES)

_BAR_MIN_BATCHES = 4  # show a progress bar from this many batches on


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd inside; the model's previous mode restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _placed(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """Move ``model`` to ``device`` when one is given; return where it runs."""
    if device is not None:
        device = resolve_device(device)
        model.to(device)
        return device
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else resolve_device(None)


def _progress(batches: Iterable, desc: str) -> Iterable:
    many = not hasattr(batches, "__len__") or len(batches) >= _BAR_MIN_BATCHES
    return tqdm(batches, desc=desc, leave=False, **bar_options(many))


def encode_texts(
    model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    texts: Sequence[str],
    device: str | torch.device | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """L2-normalised text embeddings ``[len(texts), D]``.

    ``device`` moves the model there; ``None`` runs it where its parameters are.
    """
    if len(texts) == 0:
        raise InvalidInputError("no texts to encode: give at least one")
    device = _placed(model, device)
    chunks = [list(texts[start:start + batch_size]) for start in range(0, len(texts), batch_size)]
    with _evaluating(model):
        features = [
            model.encode_text(tokenizer(chunk).to(device)).float().cpu()
            for chunk in _progress(chunks, "encode texts")
        ]
    return F.normalize(torch.cat(features), dim=-1)


def encode_images(
    model: nn.Module,
    data: Dataset | Iterable,
    device: str | torch.device | None = None,
    batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised image embeddings ``[N, D]`` and labels ``[N]``.

    ``data`` is a data set of ``(image, label)`` items (batched here, in order) or an
    iterable of batches such as a DataLoader; a batch's first element is the images and its
    last the labels, so ``(image, caption, label)`` batches work too.
    """
    if isinstance(data, Dataset):
        data = DataLoader(data, batch_size=batch_size, shuffle=False)
    device = _placed(model, device)
    features, labels = [], []
    with _evaluating(model):
        for batch in _progress(data, "encode images"):
            features.append(model.encode_image(batch[0].to(device)).float().cpu())
            labels.append(torch.as_tensor(batch[-1]).cpu())
    if not features:
        raise InvalidInputError("no images to encode: the data set or loader is empty")
    return F.normalize(torch.cat(features), dim=-1), torch.cat(labels)


def class_mean_head(
    model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    texts_by_class: Sequence[Sequence[str]],
    device: str | torch.device | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """Per class, the normalised mean of its texts' normalised embeddings: a ``[C, D]`` head."""
    counts = [len(texts) for texts in texts_by_class]
    if not counts or min(counts) == 0:
        raise InvalidInputError("every class needs at least one text to build a head from")
    flat = [text for texts in texts_by_class for text in texts]
    embeddings = encode_texts(model, tokenizer, flat, device=device, batch_size=batch_size)
    owner = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    sums = torch.zeros(len(counts), embeddings.shape[1]).index_add_(0, owner, embeddings)
    return F.normalize(sums, dim=-1)  # the mean's direction is the sum's


def fill_template(template: Template, classname: str) -> str:
    """A template filled with the cleaned class name."""
    return template(clean_classname(classname)) if callable(template) else class_prompt(classname, template)


def prompt_head(
    model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    classnames: Sequence[str],
    templates: Sequence[Template] = FLYP_TEMPLATES,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Zero-shot head: per class, the normalised mean of its filled templates' embeddings."""
    if len(templates) == 0:
        raise InvalidInputError("templates is empty: give at least one prompt template")
    texts = [[fill_template(template, name) for template in templates] for name in classnames]
    return class_mean_head(model, tokenizer, texts, device=device)


def ensemble_head(
    model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    classnames: Sequence[str],
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """FLYP-ens head: :func:`prompt_head` over CLIP's 80 ImageNet templates."""
    return prompt_head(model, tokenizer, classnames, ENSEMBLE_TEMPLATES, device=device)


def caption_prototype_head(
    model: nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    classnames: Sequence[str],
    captions_by_class: Sequence[Sequence[str]],
    device: str | torch.device | None = None,
    class_prefix: bool = True,
) -> torch.Tensor:
    """MMFT head: per class, the normalised mean of its training captions' normalised embeddings.

    Each caption gets the ``"a photo of a {class}. "`` prefix (``class_prefix``, as in training
    with the authors' ``--add_class_template``); a class without captions falls back to its
    single prompt ``"a photo of a {class}."``.
    """
    if len(captions_by_class) != len(classnames):
        raise InvalidInputError(
            f"{len(classnames)} class names but captions for {len(captions_by_class)} classes: "
            "give one (possibly empty) list of captions per class, in class order"
        )
    texts = [
        [with_class_prefix(caption, name) if class_prefix else caption for caption in captions]
        or [class_prompt(name)]
        for name, captions in zip(classnames, captions_by_class)
    ]
    return class_mean_head(model, tokenizer, texts, device=device)


def class_logits(image_features: torch.Tensor, head: torch.Tensor, logit_scale: float = 1.0) -> torch.Tensor:
    """``logit_scale · image_features @ head.T``."""
    if image_features.shape[-1] != head.shape[-1]:
        raise InvalidInputError(
            f"image features have dimension {image_features.shape[-1]} but the head {head.shape[-1]}: "
            "build the head with the same model"
        )
    return logit_scale * image_features @ head.T


def _logits_and_labels(
    model: nn.Module, head: torch.Tensor, data: Dataset | Iterable, device: str | torch.device | None, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    features, labels = encode_images(model, data, device=device, batch_size=batch_size)
    return class_logits(features, head.float().cpu(), model.logit_scale.detach().exp().item()), labels


def predict(
    model: nn.Module,
    head: torch.Tensor,
    data: Dataset | Iterable,
    device: str | torch.device | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """Logits ``[N, C]`` of every image in ``data`` (see :func:`encode_images`) against ``head``."""
    return _logits_and_labels(model, head, data, device, batch_size)[0]


def accuracy(
    model: nn.Module,
    head: torch.Tensor,
    data: Dataset | Iterable,
    device: str | torch.device | None = None,
    batch_size: int = 256,
) -> float:
    """Top-1 accuracy in ``[0, 1]`` of ``head`` on the labelled images of ``data``."""
    logits, labels = _logits_and_labels(model, head, data, device, batch_size)
    return float(accuracy_score(labels.numpy(), logits.argmax(dim=1).numpy()))


@torch.no_grad()
def clip_scores(model: nn.Module, preprocess: Callable, tokenizer: Callable, images: Sequence,
                captions: Sequence[str], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarity of each image with its own caption, and with the caption of another image.

    Args:
        model, preprocess, tokenizer: a CLIP as :func:`mmft_kit.models.load_clip` returns it.
        images: PIL images; captions: one per image.
        seed: which other image's caption each image is paired with (a fixed shift of the list).

    Returns:
        ``(matched, shuffled)``, ``[N]`` each: the shuffled scores are the chance level the matched ones
        should clear.
    """
    if len(images) != len(captions) or len(images) < 2:
        raise InvalidInputError(f"need two or more images with one caption each; got {len(images)} and {len(captions)}")
    pixels = torch.stack([preprocess(image) for image in images])
    labels = torch.zeros(len(images), dtype=torch.long)
    image_features, _ = encode_images(model, torch.utils.data.TensorDataset(pixels, labels))
    text_features = encode_texts(model, tokenizer, list(captions))
    shift = int(torch.randint(1, len(images), (), generator=torch.Generator().manual_seed(seed)))
    matched = (image_features * text_features).sum(dim=1)
    shuffled = (image_features * text_features.roll(shift, dims=0)).sum(dim=1)
    return matched, shuffled
