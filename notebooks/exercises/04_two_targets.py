"""The checks of lesson 04_two_targets's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stlib.losses import content_loss

from .common import _choice, _close, _random

CAT_OPTIONS = ("0", "0.25", "0.5", "0.75", "1")


CAT_RIGHT = {"0.75", "1"}


CAT_ALSO = {"0.5"}


def _check_cat_balances(answer: Any) -> tuple[bool, str]:
    """Lesson 04, full mode: the balances whose final image shows the cat (predicted before they are drawn)."""
    return _choice(answer, CAT_OPTIONS, CAT_RIGHT, CAT_ALSO, "balances",
                   look="the blend leans towards the target with the larger features; which of the two has the "
                        "stronger contrasts, the cup's rim or the cat's fur?",
                   look_all="a balance that gives the cat most of the weight shows it")


def _check_floor(fn: Callable) -> tuple[bool, str]:
    """min over F of w1·mean((F − P1)²) + w2·mean((F − P2)²) = w1·w2 / (w1 + w2) · mean((P1 − P2)²)."""
    p1, p2 = _random(1, 4, 3, 3, seed=4), _random(1, 4, 3, 3, seed=5)
    gap = content_loss(p1, p2)
    for w1, w2 in ((0.25, 0.75), (1.0, 1.0), (2.0, 1.0), (0.5, 3.0)):
        if not _close(fn(p1.clone(), p2.clone(), w1, w2), w1 * w2 / (w1 + w2) * gap):
            if w1 + w2 == 1:
                return False, f"wrong already at w1 = {w1}, w2 = {w2}: find the F that minimises the loss, put it in"
            return False, (f"right for weights that add up to 1, wrong at w1 = {w1}, w2 = {w2}: "
                           "find the minimising F again without assuming w1 + w2 = 1")
    return True, "the minimiser is the weighted mean of the targets' features; what is left is the floor"


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "04_cat_balances": _check_cat_balances,
    "04_floor": _check_floor,
}
