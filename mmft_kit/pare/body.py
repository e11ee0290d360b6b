"""Pretrained transformer bodies behind one small interface.

A body takes content+position tokens ``(B, N, d)``, prepends its [CLS] token, runs its blocks
and returns the normalised sequence ``(B, 1 + N, d)``. It also exposes what ``srcinit`` needs:
the pretrained patch convolution and its positional grid (``None`` where a body has none).

* :class:`OpenClipViTBody` wraps an open_clip ``VisionTransformer`` (``clip.visual``): conv1,
  class_embedding, positional_embedding, ln_pre, transformer, ln_post.
* :class:`HFEncoderBody` wraps a transformers encoder that accepts ``inputs_embeds`` (BERT,
  RoBERTa, … — the authors' 1D body); it has no image patch embedding, so PaRe and ORCA need
  an explicit source embedder with it.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from ..errors import InvalidInputError


class TokenBody(nn.Module):
    """Interface: ``forward(tokens) -> (B, 1 + N, d)``; ``pool`` picks the sequence summary."""

    width: int
    image_size: tuple[int, int] | None = None
    patch_size: tuple[int, int] | None = None

    @property
    def patch_embedding(self) -> nn.Conv2d | None:
        return None

    def grid_positions(self) -> torch.Tensor | None:
        """Pretrained patch positions ``(gh, gw, d)``, or ``None``."""
        return None

    def pool(self, sequence: torch.Tensor) -> torch.Tensor:
        return sequence[:, 0]


class OpenClipViTBody(TokenBody):
    """An open_clip ``VisionTransformer`` used from its patch tokens on (conv1 is left to srcinit)."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        missing = [a for a in ("conv1", "class_embedding", "positional_embedding", "ln_pre", "transformer", "ln_post")
                   if not hasattr(visual, a)]
        if missing:
            raise InvalidInputError(f"not an open_clip VisionTransformer: missing {missing}")
        if getattr(visual, "attn_pool", None) is not None:
            raise InvalidInputError("open_clip towers with attentional pooling are not supported as PaRe bodies")
        self.visual = visual
        self.width = visual.conv1.out_channels
        self.image_size = tuple(visual.image_size)
        self.patch_size = tuple(visual.patch_size)
        self.grid = tuple(visual.grid_size)

    @property
    def patch_embedding(self) -> nn.Conv2d:
        return self.visual.conv1

    def grid_positions(self) -> torch.Tensor:
        return self.visual.positional_embedding[1:].reshape(*self.grid, self.width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        v = self.visual
        cls = (v.class_embedding + v.positional_embedding[0]).to(tokens.dtype)
        x = torch.cat([cls.expand(tokens.shape[0], 1, -1), tokens], dim=1)
        x = v.transformer(v.ln_pre(x))
        return v.ln_post(x)

    def pool(self, sequence: torch.Tensor) -> torch.Tensor:
        return sequence[:, 1:].mean(dim=1) if getattr(self.visual, "pool_type", "tok") == "avg" else sequence[:, 0]


class HFEncoderBody(TokenBody):
    """A transformers encoder called with ``inputs_embeds``; a learned [CLS] vector is prepended.

    The [CLS] vector starts from the model's own [CLS] word embedding where the config names one.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if "inputs_embeds" not in inspect.signature(model.forward).parameters:
            raise InvalidInputError(
                f"{type(model).__name__} does not accept inputs_embeds; use a BERT/RoBERTa-style encoder "
                "or an open_clip VisionTransformer as the body")
        self.model = model
        self.width = int(model.config.hidden_size)
        words = model.get_input_embeddings().weight
        cls_id = getattr(model.config, "cls_token_id", None) or getattr(model.config, "bos_token_id", None)
        start = words[cls_id].detach().clone() if cls_id is not None and cls_id < len(words) else words.detach().mean(0)
        self.cls = nn.Parameter(start)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls.to(tokens.dtype).expand(tokens.shape[0], 1, -1), tokens], dim=1)
        return self.model(inputs_embeds=x).last_hidden_state


def as_body(obj: nn.Module) -> TokenBody:
    """Wrap a module as a body: a TokenBody, an open_clip CLIP / VisionTransformer, or a transformers encoder."""
    if isinstance(obj, TokenBody):
        return obj
    if hasattr(obj, "visual") and hasattr(obj.visual, "conv1"):
        return OpenClipViTBody(obj.visual)
    if hasattr(obj, "conv1") and hasattr(obj, "positional_embedding"):
        return OpenClipViTBody(obj)
    if hasattr(obj, "config") and hasattr(obj, "get_input_embeddings"):
        return HFEncoderBody(obj)
    raise InvalidInputError(
        f"cannot use {type(obj).__name__} as a PaRe body: give an open_clip CLIP or VisionTransformer "
        "(model.visual) or a transformers encoder that accepts inputs_embeds")


@torch.no_grad()
def randomize_(module: nn.Module) -> nn.Module:
    """Re-initialise every parameter of ``module`` in place (the from-scratch baseline).

    Submodules with ``reset_parameters`` use it; bare parameters (class and positional
    embeddings, projections) are redrawn as N(0, width^-1/2) like open_clip's own init.
    """
    handled: set[int] = set()
    for sub in module.modules():
        reset = getattr(sub, "reset_parameters", None) or getattr(sub, "_reset_parameters", None)
        if callable(reset):
            reset()
            handled.update(id(p) for p in sub.parameters(recurse=False))
    for param in module.parameters():
        if id(param) not in handled:
            param.normal_(0.0, param.shape[-1] ** -0.5)
    return module
