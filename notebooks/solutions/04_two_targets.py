"""Solutions for 04_two_targets (for instructors)."""

import torch


def two_targets(features: torch.Tensor, target1: torch.Tensor, target2: torch.Tensor, balance: float) -> torch.Tensor:
    """balance · mean((F − P₁)²) + (1 − balance) · mean((F − P₂)²)."""
    return balance * ((features - target1) ** 2).mean() + (1 - balance) * ((features - target2) ** 2).mean()
