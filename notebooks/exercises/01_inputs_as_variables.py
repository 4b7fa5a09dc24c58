"""The checks of lesson 01_inputs_as_variables's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .common import _close, _random


def _check_gradient(fn: Callable) -> tuple[bool, str]:
    for seed, shape in ((0, (2, 2)), (1, (3, 4))):
        x = _random(*shape, seed=seed)
        expected = torch.full_like(x, 2 * float(x.sum()))
        if not _close(fn(x.clone()), expected):
            return False, f"wrong gradient for a {shape[0]}×{shape[1]} input; use the chain rule: dz/dy · dy/dx"
    return True, "the gradient of (Σx)² is the same for every entry"


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "01_gradient": _check_gradient,
}
