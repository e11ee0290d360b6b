"""Training-time image transforms of a CLIP: open_clip's, and the Tip-Adapter authors' cache augmentation."""

from __future__ import annotations

from typing import Callable

from torch import nn

#: Tip-Adapter's crop scale for the augmented views of the cache (with a horizontal flip).
TIP_ADAPTER_CROP_SCALE = (0.5, 1.0)


def _rgb(image):
    return image.convert("RGB")


def _preprocess_cfg(model: nn.Module):
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    return PreprocessCfg(**merge_preprocess_dict(PreprocessCfg(), getattr(model.visual, "preprocess_cfg", {})))


def open_clip_train_transform(model: nn.Module) -> Callable:
    """open_clip's training transform for ``model``: ``RandomResizedCrop`` (scale 0.9–1.0, its interpolation),
    RGB, tensor, the model's normalisation."""
    from open_clip.transform import image_transform_v2

    return image_transform_v2(_preprocess_cfg(model), is_train=True)


def tip_adapter_transform(model: nn.Module) -> Callable:
    """The Tip-Adapter authors' augmentation of the cache images: ``RandomResizedCrop`` (scale 0.5–1,
    bicubic) and a horizontal flip at the model's input size, then the model's normalisation."""
    from torchvision import transforms

    cfg = _preprocess_cfg(model)
    return transforms.Compose([
        transforms.RandomResizedCrop(cfg.size, scale=TIP_ADAPTER_CROP_SCALE,
                                     interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.RandomHorizontalFlip(p=0.5),
        transforms.Lambda(_rgb),
        transforms.ToTensor(),
        transforms.Normalize(mean=cfg.mean, std=cfg.std),
    ])
