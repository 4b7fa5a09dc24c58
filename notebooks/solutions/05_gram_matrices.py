"""Solutions for 05_gram_matrices (for instructors)."""

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Raw Gram matrices (B, C, C) of features (B, C, H, W): flatten the positions, G = F Fᵀ per image.

    reshape, not view: the features may be non-contiguous (view would raise); @ on (B, C, H·W) and
    (B, H·W, C) is one matrix product per image (torch.bmm); no division (the raw Gram).
    """
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2)


# Shuffling 4 × 4 tiles keeps every patch smaller than a tile; a feature changes only where the region it sees
# straddles a seam. conv5_1 sees the largest regions (its receptive field, lesson 06), so its Gram changes most.
tiles_layer = "conv5_1"
