"""Where PaRe bodies come from: the kit's embedded CLIP, an open_clip name, or a tiny random tower."""

from __future__ import annotations

from torch import nn


def tiny_vit(width: int = 64, layers: int = 2, heads: int = 2, image_size: int = 32, patch_size: int = 4) -> nn.Module:
    """A randomly initialised open_clip ``VisionTransformer`` (tests and smoke runs; not pretrained)."""
    from open_clip.transformer import VisionTransformer

    return VisionTransformer(image_size=image_size, patch_size=patch_size, width=width, layers=layers, heads=heads,
                             mlp_ratio=4.0, output_dim=width)


#: The body :func:`tiny_vit` builds (random weights, for tests and smoke runs).
TINY_RANDOM = "tiny-random"


def check_body_name(spec: str) -> None:
    """Raise ModelNotAvailableError unless :func:`load_body` takes ``spec``; loads nothing."""
    if spec != TINY_RANDOM:
        from ..models import check_clip_name

        check_clip_name(spec)


def load_body(spec: str) -> nn.Module:
    """The image tower of a CLIP named as :func:`mmft_kit.models.load_clip` takes it (``"embedded"``,
    ``"embedded:ci"``, open_clip names, ``local-dir:`` folders), or ``"tiny-random"`` → :func:`tiny_vit`."""
    from .provenance import SPEC_ATTRIBUTE

    if spec == TINY_RANDOM:
        body = tiny_vit()
    else:
        from ..models import load_clip

        body = load_clip(spec, device="cpu")[0].visual
    setattr(body, SPEC_ATTRIBUTE, spec)
    return body
