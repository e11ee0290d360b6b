"""The PaRe model: target embedder → (patch replacement) → [CLS] + positions → body → heads.

``PaReModel`` holds the trainable target embedder f_tar, a frozen source embedder f_src (a
srcinit copy of the pretrained patch embedding, for source images), the shared patch gate, the
target predictor h_tar and the source predictor h_src. The same module serves every method of
the trainer; only what is trained and whether patches are replaced differ.
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import torch
from torch import nn

from ..errors import InvalidInputError
from .body import TokenBody, as_body, randomize_
from .embedders import PatchEmbed2D, TargetEmbedder, make_embedder, pretrained_token_stats, srcinit
from .gate import PatchGate

TaskType = Literal["classification", "regression", "dense"]


class PaReModel(nn.Module):
    """Body + embedders + gate + heads.

    ``output_shape`` is the per-sample shape of the target: ``()`` for class indices or a
    scalar, ``(k,)`` for k regression outputs, ``(H, W)`` / ``(C, H, W)`` (or ``(L,)`` /
    ``(C, L)`` with a 1D embedder) for dense fields.
    """

    def __init__(self, body: nn.Module, embedder: TargetEmbedder, task_type: TaskType, num_outputs: int,
                 source_classes: int, source_embedder: nn.Module | None = None,
                 output_shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        if task_type not in ("classification", "regression", "dense"):
            raise InvalidInputError(f"task_type must be classification, regression or dense; got {task_type!r}")
        self.body: TokenBody = as_body(body)
        width = self.body.width
        if embedder.width != width:
            raise InvalidInputError(f"embedder width {embedder.width} differs from the body width {width}")
        self.task_type = task_type
        self.embedder = embedder
        self.source_embedder = source_embedder
        if source_embedder is not None:
            source_embedder.requires_grad_(False)
        self.gate = PatchGate(width)
        self.output_shape = tuple(output_shape)
        if task_type == "dense":
            # a per-token linear map to the values the token covers, folded back by the embedder
            spatial = len(embedder.layout) - 1
            self.squeeze = len(self.output_shape) == spatial
            channels = 1 if self.squeeze else self.output_shape[0]
            self.out_size = self.output_shape[-spatial:]
            self.head = nn.Linear(width, channels * embedder.patch_values)
        else:
            self.head = nn.Linear(width, num_outputs)
        self.source_head = nn.Linear(width, source_classes)

    # -- the pieces the trainer combines -------------------------------------------------------
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """f_tar: target inputs → content tokens ``(B, N, d)``."""
        return self.embedder(x)

    def embed_source(self, images: torch.Tensor) -> torch.Tensor:
        """f_src: source images → content tokens ``(B, M, d)`` (frozen)."""
        if self.source_embedder is None:
            raise InvalidInputError("this model has no source embedder: build it with source images (PaRe/ORCA)")
        with torch.no_grad():
            return self.source_embedder(images)

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Content tokens → (pooled feature ``(B, d)``, patch features ``(B, N, d)``)."""
        sequence = self.body(tokens + self.embedder.pos.to(tokens.dtype))
        return self.body.pool(sequence), sequence[:, 1:]

    def predict(self, pooled: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        """h_tar on the encoded sequence."""
        if self.task_type == "dense":
            out = self.embedder.fold(self.head(patches), self.out_size)
            return out.squeeze(1) if self.squeeze else out
        out = self.head(pooled)
        return out.squeeze(-1) if self.task_type == "regression" and self.output_shape == () else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict(*self.encode(self.embed(x)))


def _normalised_images(images: torch.Tensor) -> torch.Tensor:
    if images.dim() != 4 or images.shape[1] != 3:
        raise InvalidInputError(f"source images must be (B, 3, H, W) float tensors; got {tuple(images.shape)}")
    return images.float()


def target_embedder(task, tower: TokenBody, patch_size: int | None = None,
                    stride: int | None = None) -> TargetEmbedder:
    """A fresh target embedder for ``task`` at the body's width; ``patch_size`` / ``stride`` default to the
    task's hints (``task.extra``), then the body's patch."""
    patch_size = patch_size or task.extra.get("patch_size") or (tower.patch_size[0] if tower.patch_size else 4)
    return make_embedder(task.x_train[0], tower.width, patch_size=patch_size, stride=stride or task.extra.get("stride"))


def source_image_size(task, body: nn.Module) -> int:
    """The side of square source images whose patch grid has as many tokens as ``task``'s target embedder
    (the authors resize source and target to one size, so their token counts are equal)."""
    tower = as_body(body)
    tokens = target_embedder(task, tower).num_tokens
    side = math.isqrt(tokens)
    if side * side != tokens or not tower.patch_size:
        raise InvalidInputError(f"task {task.name!r} has {tokens} target tokens, no square patch grid of the body "
                                "matches it: use source_tokens='body'")
    return side * tower.patch_size[0]


def build_pare_model(
    task, body: str | nn.Module = "embedded", source_images: torch.Tensor | None = None,
    source_classes: int = 1, pretrained: bool = True, patch_size: int | None = None, stride: int | None = None,
) -> PaReModel:
    """A :class:`PaReModel` for a :class:`~mmft_kit.pare.targets.TargetTask`.

    ``body`` is ``"embedded"`` (the kit's CLIP), an open_clip model name / ``local-dir:`` path,
    or a module (open_clip CLIP or VisionTransformer, transformers encoder). With
    ``pretrained`` the embedder is srcinit-ed from the body's patch embedding (and the LayerNorm
    matched to the pretrained tokens of ``source_images`` when given); without it the body is
    re-initialised at random and the embedder keeps its random init (training from scratch).
    ``patch_size`` / ``stride`` default to the task's hints (``task.extra``), then the body's patch.
    ``source_images`` (normalised, ``(B, 3, H, W)``) also build the frozen source embedder.
    """
    from .bodies import load_body

    module = load_body(body) if isinstance(body, str) else copy.deepcopy(body)
    tower = as_body(module)
    if not pretrained:
        randomize_(tower)
    embedder = target_embedder(task, tower, patch_size, stride)
    conv = tower.patch_embedding
    stats = None
    if source_images is not None and conv is not None:
        source_images = _normalised_images(source_images)
        stats = pretrained_token_stats(conv, source_images)
    if pretrained:
        grid = tower.grid_positions()
        srcinit(embedder, conv, grid.detach() if grid is not None else None, stats)
    source_embedder = None
    if source_images is not None and conv is not None:
        source_embedder = PatchEmbed2D(3, tuple(source_images.shape[2:]), tower.patch_size, tower.width)
        srcinit(source_embedder, conv, None, stats)
    output_shape = tuple(task.y_train.shape[1:])
    num_outputs = task.num_outputs
    return PaReModel(tower, embedder, task.task_type, num_outputs, source_classes, source_embedder, output_shape)
