"""Solutions for 01_inputs_as_variables (for instructors)."""

import torch


def gradient(x: torch.Tensor) -> torch.Tensor:
    """dz/dx for z = (Σx)²: by the chain rule 2·(Σx)·1, the same for every entry."""
    return 2 * x.sum() * torch.ones_like(x)
