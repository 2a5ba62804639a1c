"""GradCon's convolutional autoencoder, exactly as the authors built it (docs/DESIGN.md §1).

Only the network lives here; training, scoring and checkpoints are elsewhere.
"""

from __future__ import annotations

import torch
from torch import nn


class GradConAE(nn.Module):
    """Autoencoder for 28x28 inputs in [0, 1]; the 4 ConvTranspose2d weights are the gradient layers."""

    def __init__(self, channels: int = 3, size: int = 28) -> None:
        super().__init__()
        if size != 28:
            raise ValueError(f"input size {size} is not supported: GradCon's architecture is built for 28x28")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (grey) or 3 (colour), got {channels}")
        self.channels = channels
        self.size = size
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, 32, 4, 2, 2),
            nn.ReLU(),  # 28 -> 15
            nn.Conv2d(32, 32, 4, 2, 2),
            nn.ReLU(),  # 15 -> 8
            nn.Conv2d(32, 64, 4, 2, 2),
            nn.ReLU(),  # 8 -> 5
            nn.Conv2d(64, 64, 4, 2, 2),
            nn.ReLU(),  # 5 -> 3
        )
        # No in-place ReLU: the scorer takes gradients w.r.t. each ConvTranspose2d's output tensor,
        # which an in-place activation would overwrite.
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 2),
            nn.ReLU(),  # 3 -> 4
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(),  # 4 -> 8
            nn.ConvTranspose2d(32, 32, 4, 2, 2),
            nn.ReLU(),  # 8 -> 14
            nn.ConvTranspose2d(32, channels, 4, 2, 1),
            nn.Sigmoid(),  # 14 -> 28
        )

    @property
    def gradient_layers(self) -> list[nn.ConvTranspose2d]:
        """The four decoder ConvTranspose2d layers, in forward order."""
        return [m for m in self.decoder if isinstance(m, nn.ConvTranspose2d)]

    def config(self) -> dict:
        """Constructor arguments, stored in checkpoints so the model can be rebuilt from them."""
        return {"channels": self.channels, "size": self.size}

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, 28, 28) -> (B, C, 28, 28)
        return self.decoder(self.encoder(x))
