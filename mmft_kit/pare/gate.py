"""The patch gate: one shared ``Linear(d, 1)`` + sigmoid scoring every patch token."""

from __future__ import annotations

import torch
from torch import nn


class PatchGate(nn.Module):
    """Scores patch tokens ``(B, N, d)`` → ``(B, N)`` in (0, 1); shared by source and target patches."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width, 1)

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """The scores before the sigmoid, ``(B, N)``."""
        return self.fc(tokens).squeeze(-1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(tokens))
