"""Target embedders f_tar (2D, 1D, tabular) and their initialisation from the pretrained patch embedding.

Every embedder maps a batch of target inputs to ``(B, N, d)`` *content* tokens and owns a
``pos`` table ``(N, d)`` that the model adds after patch replacement (positions belong to
slots, not to the patches written into them). ``layout`` tells the dense head how tokens fold
back into the input's shape.

``srcinit`` starts an embedder from the body's pretrained patch embedding where shapes allow:
the 2D convolution copies the pretrained kernel (channels summed for one-channel inputs, tiled
for more than three, kernel resized when the patch size differs); positions are resampled from
the body's positional grid (bicubic for grids, linear along the flattened grid for sequences
and feature sets); the LayerNorm's affine parameters are set to the per-channel mean and
standard deviation of the pretrained patch tokens of source images, so that normalised tokens
reach the body with the statistics it was trained on (CLIP's ViT has no patch-embedding norm
to copy, unlike the Swin and RoBERTa bodies of the authors).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class TargetEmbedder(nn.Module):
    """Base class: content tokens plus a slot position table."""

    layout: tuple[str, ...]
    num_tokens: int

    def __init__(self, width: int, num_tokens: int) -> None:
        super().__init__()
        self.width = width
        self.num_tokens = num_tokens
        self.norm = nn.LayerNorm(width)
        self.pos = nn.Parameter(torch.randn(num_tokens, width) * 0.02)

    def project(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.project(x))

    @property
    def patch_values(self) -> int:
        """Output values each token stands for per output channel (for dense heads)."""
        raise InvalidInputError(f"{type(self).__name__} has no spatial layout: dense outputs need a 2D or 1D embedder")

    def fold(self, values: torch.Tensor, out_size: tuple[int, ...]) -> torch.Tensor:
        """``(B, N, C * patch_values)`` per-token predictions → ``(B, C, *out_size)``."""
        raise InvalidInputError(f"{type(self).__name__} has no spatial layout: dense outputs need a 2D or 1D embedder")


class PatchEmbed2D(TargetEmbedder):
    """``(B, C, H, W)`` → conv patchify (kernel = stride = patch) → LayerNorm; pads H, W up to the patch."""

    def __init__(self, in_channels: int, image_size: int | tuple[int, int], patch_size: int | tuple[int, int],
                 width: int) -> None:
        self.image_size, self.patch_size = _pair(image_size), _pair(patch_size)
        self.grid = tuple(math.ceil(s / p) for s, p in zip(self.image_size, self.patch_size))
        super().__init__(width, self.grid[0] * self.grid[1])
        self.in_channels = in_channels
        self.layout = ("grid", *self.grid)
        self.proj = nn.Conv2d(in_channels, width, kernel_size=self.patch_size, stride=self.patch_size)
        nn.init.xavier_uniform_(self.proj.weight, gain=math.sqrt(2))
        nn.init.zeros_(self.proj.bias)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or tuple(x.shape[2:]) != self.image_size:
            raise InvalidInputError(
                f"expected inputs (B, {self.in_channels}, {self.image_size[0]}, {self.image_size[1]}); "
                f"got {tuple(x.shape)}")
        pad_h = self.grid[0] * self.patch_size[0] - x.shape[2]
        pad_w = self.grid[1] * self.patch_size[1] - x.shape[3]
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.proj(x).flatten(2).transpose(1, 2)

    @property
    def patch_values(self) -> int:
        return self.patch_size[0] * self.patch_size[1]

    def fold(self, values: torch.Tensor, out_size: tuple[int, ...]) -> torch.Tensor:
        b, (gh, gw), (ph, pw) = values.shape[0], self.grid, self.patch_size
        channels = values.shape[2] // (ph * pw)
        x = values.reshape(b, gh, gw, channels, ph, pw).permute(0, 3, 1, 4, 2, 5)
        x = x.reshape(b, channels, gh * ph, gw * pw)
        return x[:, :, : out_size[0], : out_size[1]]


class SeqEmbed1D(TargetEmbedder):
    """``(B, C, L)`` → strided conv1d (kernel = stride) → LayerNorm; positions added by the model."""

    def __init__(self, in_channels: int, length: int, stride: int, width: int) -> None:
        self.length, self.stride = int(length), int(stride)
        super().__init__(width, math.ceil(self.length / self.stride))
        self.in_channels = in_channels
        self.layout = ("seq", self.num_tokens)
        self.proj = nn.Conv1d(in_channels, width, kernel_size=self.stride, stride=self.stride)
        nn.init.xavier_uniform_(self.proj.weight, gain=math.sqrt(2))
        nn.init.zeros_(self.proj.bias)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[1] != self.in_channels or x.shape[2] != self.length:
            raise InvalidInputError(f"expected inputs (B, {self.in_channels}, {self.length}); got {tuple(x.shape)}")
        pad = self.num_tokens * self.stride - self.length
        if pad:
            x = F.pad(x, (0, pad))
        return self.proj(x).transpose(1, 2)

    @property
    def patch_values(self) -> int:
        return self.stride

    def fold(self, values: torch.Tensor, out_size: tuple[int, ...]) -> torch.Tensor:
        b, n = values.shape[:2]
        channels = values.shape[2] // self.stride
        x = values.reshape(b, n, channels, self.stride).permute(0, 2, 1, 3).reshape(b, channels, n * self.stride)
        return x[:, :, : out_size[0]]


class TabularTokenizer(TargetEmbedder):
    """``(B, F)`` numeric features → one token per feature, ``x_j · w_j + b_j`` → LayerNorm.

    The per-feature weights and biases (the feature-tokeniser of FT-Transformer) give every
    token its feature identity; the position table adds a second, body-derived one.
    """

    def __init__(self, num_features: int, width: int) -> None:
        super().__init__(width, num_features)
        self.layout = ("set", num_features)
        self.weight = nn.Parameter(torch.randn(num_features, width) / math.sqrt(width))
        self.bias = nn.Parameter(torch.randn(num_features, width) / math.sqrt(width))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.num_tokens:
            raise InvalidInputError(f"expected tabular inputs (B, {self.num_tokens}); got {tuple(x.shape)}")
        return x.unsqueeze(-1) * self.weight + self.bias


def make_embedder(sample: torch.Tensor, width: int, patch_size: int = 4, stride: int | None = None,
                  max_tokens: int = 16) -> TargetEmbedder:
    """The embedder that fits one input sample's shape: ``(C, H, W)`` 2D, ``(C, L)`` 1D, ``(F,)`` tabular.

    ``stride`` for 1D inputs defaults to the smallest stride giving at most ``max_tokens`` tokens
    (16 by default, small enough for CPU; the authors use up to 64 tokens with RoBERTa).
    """
    if sample.dim() == 3:
        return PatchEmbed2D(sample.shape[0], tuple(sample.shape[1:]), patch_size, width)
    if sample.dim() == 2:
        length = sample.shape[1]
        stride = stride or max(1, math.ceil(length / max_tokens))
        return SeqEmbed1D(sample.shape[0], length, stride, width)
    if sample.dim() == 1:
        return TabularTokenizer(sample.shape[0], width)
    raise InvalidInputError(
        f"cannot embed samples of shape {tuple(sample.shape)}: give (C, H, W) images, (C, L) signals or (F,) features")


def _adapt_kernel(kernel: torch.Tensor, in_channels: int, patch: tuple[int, int]) -> torch.Tensor:
    """Pretrained ``(d, 3, p, p)`` kernel → ``(d, C, ph, pw)``: sum RGB for C = 1, tile (rescaled) for C > 3."""
    if in_channels == 1:
        kernel = kernel.sum(dim=1, keepdim=True)
    elif in_channels != kernel.shape[1]:
        reps = math.ceil(in_channels / kernel.shape[1])
        kernel = kernel.repeat(1, reps, 1, 1)[:, :in_channels] * (3.0 / in_channels)
    if tuple(kernel.shape[2:]) != patch:
        area = kernel.shape[2] * kernel.shape[3]
        kernel = F.interpolate(kernel, size=patch, mode="bilinear", align_corners=False) * area / (patch[0] * patch[1])
    return kernel


def _resample_positions(grid_pos: torch.Tensor, layout: tuple) -> torch.Tensor:
    """Body positions ``(gh, gw, d)`` → the embedder's ``(N, d)``."""
    gh, gw, d = grid_pos.shape
    if layout[0] == "grid":
        img = grid_pos.permute(2, 0, 1).unsqueeze(0)
        out = F.interpolate(img, size=tuple(layout[1:]), mode="bicubic", align_corners=False)
        return out.squeeze(0).permute(1, 2, 0).reshape(-1, d)
    flat = grid_pos.reshape(1, gh * gw, d).transpose(1, 2)
    out = F.interpolate(flat, size=layout[1], mode="linear", align_corners=True)
    return out.squeeze(0).transpose(0, 1)


@torch.no_grad()
def pretrained_token_stats(patch_embedding: nn.Conv2d, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of the pretrained patch tokens of ``images``."""
    tokens = patch_embedding(images).flatten(2).transpose(1, 2).reshape(-1, patch_embedding.out_channels)
    return tokens.mean(0), tokens.std(0).clamp_min(1e-6)


@torch.no_grad()
def srcinit(embedder: TargetEmbedder, patch_embedding: nn.Conv2d | None, grid_positions: torch.Tensor | None,
            token_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> TargetEmbedder:
    """Initialise ``embedder`` in place from the pretrained patch embedding (see the module notes).

    ``patch_embedding`` is the body's patch convolution (``None`` for bodies without one),
    ``grid_positions`` the body's patch positions ``(gh, gw, d)`` and ``token_stats`` the
    output of :func:`pretrained_token_stats`. Returns ``embedder``.
    """
    if isinstance(embedder, PatchEmbed2D) and patch_embedding is not None:
        if patch_embedding.out_channels != embedder.width:
            raise InvalidInputError(
                f"pretrained patch embedding has width {patch_embedding.out_channels}, embedder {embedder.width}")
        embedder.proj.weight.copy_(_adapt_kernel(patch_embedding.weight, embedder.in_channels, embedder.patch_size))
        if patch_embedding.bias is not None:
            embedder.proj.bias.copy_(patch_embedding.bias)
        else:
            embedder.proj.bias.zero_()
    if grid_positions is not None:
        embedder.pos.copy_(_resample_positions(grid_positions.to(embedder.pos), embedder.layout))
    if token_stats is not None:
        mean, std = token_stats
        embedder.norm.weight.copy_(std)
        embedder.norm.bias.copy_(mean)
    return embedder
