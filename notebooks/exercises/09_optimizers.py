"""The checks of lesson 09_optimizers's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .common import _number


def _check_lbfgs_evaluations(fn: Callable) -> tuple[bool, str]:
    """Lesson 09: loss evaluations of ``steps`` calls of ``torch.optim.LBFGS(max_iter=m).step(closure)`` with
    no line search and no early stop: the closure runs once before the first iteration and once after each
    update but the last (the step returns the loss it started from), so ``m`` per step."""
    for steps, max_iter in ((1, 20), (300, 20), (7, 5), (50, 1)):
        right = steps * max_iter
        value = _number(fn(steps, max_iter))
        if value is None:
            return False, f"lbfgs_evaluations({steps}, {max_iter}) should return a number"
        if value == right:
            continue
        if value == steps * (max_iter + 1):
            return False, ("one evaluation too many per step: the closure runs before the first iteration and "
                           "after every update but the last, where the step stops without evaluating again")
        if value == steps * (max_iter * 5 // 4):
            return False, ("max_eval (max_iter·5/4) caps a line search's extra evaluations "
                           "(line_search_fn='strong_wolfe'); without one, each iteration evaluates once")
        if value == steps:
            return False, ("one per step is stlib's L-BFGS (max_iter=1); PyTorch's runs up to max_iter "
                           "iterations inside every .step()")
        if value == max_iter:
            return False, "that is one .step(); the loop calls .step() `steps` times"
        return False, f"wrong for {steps} steps with max_iter={max_iter}: count the closure's calls in one .step()"
    return True, "max_iter evaluations per .step(): a step-counted race would give L-BFGS max_iter times the budget"


RACE_OPTIONS = ("SGD", "Adam", "L-BFGS")


RACE_HINTS = {  # lesson 09, full mode: L-BFGS ends lowest; SGD zigzags, Adam starts slowly (looked at)
    "SGD": ("SGD moves each pixel by lr × its gradient, with one lr small enough for the steepest directions "
            "(section 3's sweep): it crawls along the flat ones and zigzags across the steep ones"),
    "Adam": ("Adam moves each pixel by about lr, a step size chosen by hand, the same where the loss is flat "
             "and where it is steep; one of the three sizes its own steps from the last gradients"),
}


RACE_RIGHT = "L-BFGS"


def _check_race_winner(answer: Any) -> tuple[bool, str]:
    """Lesson 09, full mode: the optimiser with the lowest total loss after the same number of evaluations."""
    def key(name: str) -> str:
        return name.strip().lower().replace("-", "")

    if isinstance(answer, str) and not answer.strip():
        raise NotImplementedError
    if not isinstance(answer, str) or key(answer) not in {key(o) for o in RACE_OPTIONS}:
        return False, "write the name of one of the race's three optimisers, as a string"
    chosen = next(o for o in RACE_OPTIONS if key(o) == key(answer))
    if chosen != RACE_RIGHT:
        return False, RACE_HINTS[chosen]
    return True, ("its curvature model from the last gradients sizes each step; "
                  "the loss curves and pictures below show by how much")


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "09_lbfgs_evaluations": _check_lbfgs_evaluations,
    "09_race_winner": _check_race_winner,
}
