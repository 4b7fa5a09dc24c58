"""Solutions for 05_gram_matrices (for instructors)."""

import torch


def gram(features: torch.Tensor) -> torch.Tensor:
    """Raw Gram matrices (B, C, C) of features (B, C, H, W): flatten the positions, G = F Fᵀ."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2)
