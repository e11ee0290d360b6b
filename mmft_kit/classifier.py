"""A fine-tuned classifier that leaves the notebook: saved as an open_clip folder plus its head.

A classifier folder holds

* ``open_clip_config.json`` + ``open_clip_pytorch_model.bin`` — the (fine-tuned) CLIP, loadable by
  ``open_clip.create_model_and_transforms("local-dir:" + folder)`` and :func:`mmft_kit.models.load_clip`;
* ``head.safetensors`` — the head's tensors;
* ``classifier.json`` — class names, the head's inference rule (:data:`mmft_kit.baselines.HEADS`),
  the WiSE-FT α when one was applied, and what made it.

:func:`load_classifier` returns a :class:`Classifier` that predicts on PIL images, image files or
already preprocessed tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, Union

import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from .baselines.heads import FeatureHead, head_from_state
from .errors import InvalidInputError, ModelNotAvailableError
from .io import atomic_directory
from .runtime import resolve_device

CLASSIFIER_FILE = "classifier.json"
HEAD_FILE = "head.safetensors"
CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_pytorch_model.bin"

Images = Union[Image.Image, Sequence[Image.Image], torch.Tensor]


def model_config(name: str) -> dict[str, Any]:
    """The open_clip ``model_cfg`` of a model name the kit loads (``embedded``, ``local-dir:``, a folder, a name)."""
    import open_clip

    from .models import resolve_clip_name

    resolved = resolve_clip_name(name)
    if resolved.startswith("local-dir:"):
        return json.loads((Path(resolved[len("local-dir:"):]) / CONFIG_FILE).read_text())["model_cfg"]
    cfg = open_clip.get_model_config(resolved)
    if cfg is None:
        raise ModelNotAvailableError(f"no open_clip model config for {name!r}: save needs a named or local-dir model")
    return cfg


def _clip_of(model: nn.Module) -> nn.Module:
    """The CLIP inside a kit classifier (``ZeroShotInitClassifier.clip``) or the CLIP itself."""
    return getattr(model, "clip", model)


def save_classifier(
    folder: str | Path,
    model: nn.Module,
    head: FeatureHead,
    classnames: Sequence[str],
    model_cfg: dict[str, Any],
    wise_ft_alpha: float | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write a classifier folder (atomically: a half-written folder never replaces a good one).

    Args:
        folder: where it goes (replaced if it exists).
        model: the CLIP (or a kit classifier holding it as ``.clip``) with the weights to save.
        head: the head on its L2-normalised image features.
        classnames: one name per class, in label order.
        model_cfg: the open_clip ``model_cfg`` of ``model`` (see :func:`model_config`).
        wise_ft_alpha: the WiSE-FT α of the saved weights, when they are an interpolation.
        info: anything else to record (method, data set, seed, ...), JSON-able.

    Returns:
        The folder.
    """
    from open_clip.push_to_hf_hub import save_config_for_hf

    if head.num_classes != len(classnames):
        raise InvalidInputError(f"the head has {head.num_classes} classes but {len(classnames)} class names were given")
    clip = _clip_of(model)
    folder = Path(folder)
    with atomic_directory(folder) as tmp:
        torch.save({k: v.detach().cpu() for k, v in clip.state_dict().items()}, tmp / WEIGHTS_FILE)
        save_config_for_hf(clip, tmp / CONFIG_FILE, model_config=model_cfg)
        save_file(head.state(), str(tmp / HEAD_FILE))
        record = {"classnames": list(classnames), "rule": head.rule, "wise_ft_alpha": wise_ft_alpha,
                  "info": info or {}}
        (tmp / CLASSIFIER_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
    return folder


@dataclass
class Classifier:
    """A CLIP image tower and a head: ``predict`` on PIL images, files or preprocessed tensors."""

    model: nn.Module = field(repr=False)
    preprocess: Callable = field(repr=False)
    head: FeatureHead = field(repr=False)
    classnames: list[str]
    rule: str
    wise_ft_alpha: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _batch(self, images: Images) -> torch.Tensor:
        if torch.is_tensor(images):
            return images if images.dim() == 4 else images[None]
        if isinstance(images, Image.Image):
            images = [images]
        return torch.stack([self.preprocess(image.convert("RGB")) for image in images])

    def features(self, images: Images) -> torch.Tensor:
        """L2-normalised image features ``[N, D]`` (CPU, float32)."""
        with torch.no_grad():
            encoded = self.model.encode_image(self._batch(images).to(self.device))
        return F.normalize(encoded.float().cpu(), dim=-1)

    def logits(self, images: Images) -> torch.Tensor:
        """Class logits ``[N, C]``."""
        return self.head.logits(self.features(images))

    def probabilities(self, images: Images) -> torch.Tensor:
        """Softmax of the logits ``[N, C]``."""
        return self.logits(images).softmax(dim=-1)

    def predict(self, images: Images) -> list[str]:
        """The predicted class name of every image."""
        return [self.classnames[i] for i in self.logits(images).argmax(dim=1).tolist()]


def load_classifier(folder: str | Path, device: str | torch.device | None = None) -> Classifier:
    """Load a folder written by :func:`save_classifier`, or any open_clip model folder / name.

    A plain open_clip model (no ``classifier.json``) cannot classify without class names: pass
    it with a head through :class:`Classifier` instead.
    """
    from .models import load_clip

    folder = Path(folder)
    record_path = folder / CLASSIFIER_FILE
    if not record_path.is_file():
        raise InvalidInputError(
            f"{folder} has no {CLASSIFIER_FILE}, so it is not a saved classifier: save one with "
            "mmft_kit.classifier.save_classifier (a run with save_classifier=True writes RUN/classifier)"
        )
    record = json.loads(record_path.read_text())
    model, preprocess, _ = load_clip(str(folder), device=resolve_device(device))
    head = head_from_state(record["rule"], load_file(str(folder / HEAD_FILE)))
    return Classifier(model, preprocess, head, list(record["classnames"]), record["rule"],
                      record.get("wise_ft_alpha"), record.get("info", {}))
