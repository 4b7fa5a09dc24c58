"""Solutions for 06_style_loss (for instructors)."""

import torch


def gram_distance(G: torch.Tensor, A: torch.Tensor, N: int, M: int) -> torch.Tensor:
    """The paper's E_l = Σ(G − A)² / (4 N² M²) for raw Gram matrices G, A."""
    return ((G - A) ** 2).sum() / (4 * N**2 * M**2)
