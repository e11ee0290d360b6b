"""What differs between the fine-tuned CLIP methods: the model trained, its loss, its texts and its head.

* ``mmft``: every CLIP weight (both towers and the logit scale) trained on (image, caption)
  pairs with :class:`~mmft_kit.losses.MMFTLoss`; classified with caption prototypes.
* ``flyp`` / ``flyp_ens``: the same, on (image, "a photo of a {class}.") pairs with open_clip's
  ``ClipLoss``; classified with the single prompt / the 80-template ensemble.
* ``ce``: the image tower and a linear head on its normalised features, trained with
  cross-entropy. The head starts as the zero-shot single-prompt head times the logit scale
  (the zero-shot initialisation used by WiSE-FT and LP-FT), so training starts from the
  zero-shot classifier. The text tower is not trained.
* ``zeroshot``: nothing is trained; the single-prompt head.

Each is a :class:`Recipe` in :data:`RECIPES`; the run (:mod:`mmft_kit.train.run`) reads the recipe, never the name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from torch import nn

from ..baselines.heads import CosineHead, FeatureHead, LinearHead
from ..errors import InvalidInputError
from ..inference import caption_prototype_head, ensemble_head, prompt_head
from ..losses import MMFTLoss
from ..text import CLASS_TEMPLATE

Tokenizer = Callable[[list[str]], torch.Tensor]
#: ``loss(model, images, texts, labels)`` → scalar; images and labels already on the model's device, texts
#: as strings or as token ids (``[B, context]``, tokenised up front).
LossFn = Callable[[nn.Module, torch.Tensor, list[str] | torch.Tensor, torch.Tensor], torch.Tensor]
#: ``head(model, tokenizer, classnames, texts_by_class, template)`` → the ``[C, D]`` head.
HeadFn = Callable[[nn.Module, Tokenizer, Sequence[str], Sequence[Sequence[str]] | None, str], torch.Tensor]


class ZeroShotInitClassifier(nn.Module):
    """A CLIP's image tower and a bias-free linear head on its L2-normalised features.

    ``head`` is a ``[C, D]`` class-embedding head; the linear weights start as ``scale · head``,
    so the first logits are the zero-shot logits. ``encode_image`` and ``logit_scale`` are the
    CLIP's, so the kit's inference functions take the classifier as they take a CLIP.
    """

    def __init__(self, clip: nn.Module, head: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.clip = clip
        self.head = nn.Linear(head.shape[1], head.shape[0], bias=False)
        with torch.no_grad():
            self.head.weight.copy_(scale * head)
        clip.requires_grad_(False)
        clip.visual.requires_grad_(True)

    @property
    def logit_scale(self) -> nn.Parameter:
        return self.clip.logit_scale

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(F.normalize(self.encode_image(images), dim=-1))


def _distributed() -> dict:
    """Options making a contrastive loss gather features across ranks under torch.distributed.

    ``local_loss`` with ``gather_with_grad`` (open_clip's recommended pair): each rank computes
    its own anchors against every rank's samples, and the gradient flows back through the
    gather, so DDP's averaged gradient is the one-process gradient of the global batch at 1/N
    of the logits' cost (the full ``B × B`` loss on every rank gives the same gradient, each rank
    computing all of it).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return {}
    return {"local_loss": True, "gather_with_grad": True, "rank": dist.get_rank(),
            "world_size": dist.get_world_size()}


def _contrastive(criterion: nn.Module, tokenizer: Tokenizer, with_labels: bool) -> LossFn:
    """A loss on (image, text) pairs: ``criterion(image_features, text_features, logit_scale[, labels])``."""

    def contrastive(model: nn.Module, images: torch.Tensor, texts: list[str] | torch.Tensor,
                    labels: torch.Tensor) -> torch.Tensor:
        tokens = texts if isinstance(texts, torch.Tensor) else tokenizer(texts)
        image_features, text_features, logit_scale = model(images, tokens.to(images.device, non_blocking=True))[:3]
        return criterion(image_features, text_features, logit_scale, *((labels,) if with_labels else ()))

    return contrastive


def mmft_loss(tokenizer: Tokenizer, w: float) -> LossFn:
    """:class:`~mmft_kit.losses.MMFTLoss` with supervised weight ``w`` on (image, caption) pairs."""
    return _contrastive(MMFTLoss(w=w, **_distributed()), tokenizer, with_labels=True)


def clip_loss(tokenizer: Tokenizer, w: float) -> LossFn:
    """open_clip's ``ClipLoss`` on (image, text) pairs (``w`` unused)."""
    return _contrastive(ClipLoss(**_distributed()), tokenizer, with_labels=False)


def ce_loss(tokenizer: Tokenizer, w: float) -> LossFn:
    """Cross-entropy of a :class:`ZeroShotInitClassifier`'s logits."""
    return lambda model, images, texts, labels: F.cross_entropy(model(images), labels)


def _prompt(model, tokenizer, classnames, texts_by_class, template) -> torch.Tensor:
    return prompt_head(model, tokenizer, classnames, (template,))


def _ensemble(model, tokenizer, classnames, texts_by_class, template) -> torch.Tensor:
    return ensemble_head(model, tokenizer, classnames)


def _prototypes(model, tokenizer, classnames, texts_by_class, template) -> torch.Tensor:
    if texts_by_class is None:
        raise InvalidInputError("the mmft head needs the training captions grouped by class: pass texts_by_class")
    return caption_prototype_head(model, tokenizer, classnames, texts_by_class, class_prefix=False)


def _linear(model, tokenizer, classnames, texts_by_class, template) -> torch.Tensor:
    return model.head.weight.detach().float().cpu()


@dataclass(frozen=True)
class Recipe:
    """How one fine-tuned CLIP method trains and classifies.

    Args:
        head: its ``[C, D]`` class head.
        loss: makes its training loss from a tokenizer and the MMFT weight ``w`` (None: trains nothing).
        texts: what it trains on: ``"captions"`` (the caption store) or ``"prompts"`` (class prompts;
            CLIP's 80 templates with ``flyp_templates="random80"`` when ``random80``).
        random80: whether ``flyp_templates`` applies.
        classifier: trains a :class:`ZeroShotInitClassifier` (a linear head) instead of the CLIP.
    """

    head: HeadFn
    loss: Callable[[Tokenizer, float], LossFn] | None = None
    texts: str = "prompts"
    random80: bool = False
    classifier: bool = False

    def feature_head(self, model: nn.Module, weight: torch.Tensor) -> FeatureHead:
        """The head on normalised image features that ``weight`` (from :attr:`head`) stands for."""
        if self.classifier:
            return LinearHead(weight)
        return CosineHead(weight, float(model.logit_scale.detach().exp()))


#: The fine-tuned CLIP methods' recipes by method name.
RECIPES: dict[str, Recipe] = {
    "mmft": Recipe(_prototypes, mmft_loss, texts="captions"),
    "flyp": Recipe(_prompt, clip_loss, random80=True),
    "flyp_ens": Recipe(_ensemble, clip_loss, random80=True),
    "ce": Recipe(_linear, ce_loss, classifier=True),
    "zeroshot": Recipe(_prompt),
}


def recipe(method: str) -> Recipe:
    """The recipe of fine-tuned CLIP method ``method``."""
    if method not in RECIPES:
        raise InvalidInputError(f"{method!r} is no fine-tuned CLIP method; those are {list(RECIPES)}")
    return RECIPES[method]


def trainable_model(method: str, clip: nn.Module, tokenizer: Tokenizer, classnames: Sequence[str],
                    template: str = CLASS_TEMPLATE) -> nn.Module:
    """The module a method trains: the CLIP itself, or for ``ce`` a zero-shot-initialised classifier."""
    if not recipe(method).classifier:
        return clip
    head = prompt_head(clip, tokenizer, classnames, (template,)).to(clip.logit_scale.device)
    return ZeroShotInitClassifier(clip, head, clip.logit_scale.detach().exp().item())


def loss_function(method: str, tokenizer: Tokenizer, w: float = 0.1) -> LossFn:
    """The training loss of ``method`` (``w``: the MMFT loss's supervised weight)."""
    make = recipe(method).loss
    if make is None:
        raise InvalidInputError(f"the {method} method trains nothing, so it has no loss: pick one of "
                                f"{[name for name, r in RECIPES.items() if r.loss is not None]}")
    return make(tokenizer, w)


def class_head(
    method: str,
    model: nn.Module,
    tokenizer: Tokenizer,
    classnames: Sequence[str],
    texts_by_class: Sequence[Sequence[str]] | None = None,
    template: str = CLASS_TEMPLATE,
) -> torch.Tensor:
    """The ``[C, D]`` head ``method`` classifies with (for ``ce``: its trained linear weights).

    ``texts_by_class`` (``mmft`` only): each class's training texts, class prefix included.
    ``template``: the single prompt of ``flyp`` and ``zeroshot``.
    """
    return recipe(method).head(model, tokenizer, classnames, texts_by_class, template)


def feature_head(method: str, model: nn.Module, tokenizer: Tokenizer, classnames: Sequence[str],
                 texts_by_class: Sequence[Sequence[str]] | None = None, template: str = CLASS_TEMPLATE) -> FeatureHead:
    """The head ``method`` classifies ``model``'s normalised image features with (the scored, saved one)."""
    return recipe(method).feature_head(model, class_head(method, model, tokenizer, classnames, texts_by_class,
                                                          template))
