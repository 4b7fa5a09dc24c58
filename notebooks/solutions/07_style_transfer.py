"""Solutions for 07_style_transfer (for instructors)."""


def half_sum_beta(beta: float, size: int) -> float:
    """β for the ½Σ content term: ½Σ(F − P)² = (N·M / 2) · mean((F − P)²), so β must grow by N·M / 2.

    conv4_2 has N = 512 feature maps; three poolings come before it, so M = (size / 8)² positions.
    """
    n, m = 512, (size // 8) ** 2
    return beta * n * m / 2
