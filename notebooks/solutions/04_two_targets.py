"""Solutions for 04_two_targets (for instructors)."""

import torch


def floor(P1: torch.Tensor, P2: torch.Tensor, w1: float, w2: float) -> torch.Tensor:
    """The lowest value of w1·mean((F − P1)²) + w2·mean((F − P2)²) over all F.

    The derivative in F is zero at the weighted mean F* = (w1·P1 + w2·P2) / (w1 + w2); there
    F* − P1 = w2 (P2 − P1) / (w1 + w2) and F* − P2 = w1 (P1 − P2) / (w1 + w2), so the loss is
    (w1·w2² + w2·w1²) / (w1 + w2)² · mean((P1 − P2)²) = w1·w2 / (w1 + w2) · mean((P1 − P2)²).
    """
    return w1 * w2 / (w1 + w2) * ((P1 - P2) ** 2).mean()


# the full-mode balances (epoch 91) whose final image shows the cat
cat_balances = [0.75, 1]
