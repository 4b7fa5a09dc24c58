"""Solutions for 02_content_loss (for instructors)."""

import torch


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The lecture's content loss: the mean of the squared differences (nn.MSELoss)."""
    return ((features - target) ** 2).mean()


# any layer from conv4_1 on keeps the layout and lets the fine texture go; the paper uses conv4_2
layout_layer = "conv4_2"
