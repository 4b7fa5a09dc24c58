"""The checks of lesson 10_real_time's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .common import _number


def _check_param_count(fn: Callable) -> tuple[bool, str]:
    """Lesson 10: the number of weights of `stlib.fastnet.TransformerNet(width, blocks)`, as a formula."""
    from stlib.fastnet import TransformerNet

    for width, blocks in ((16, 5), (8, 2), (32, 5), (4, 0)):
        right = sum(p.numel() for p in TransformerNet(width, blocks).parameters())
        value = _number(fn(width, blocks))
        if value is None:
            return False, f"count({width}, {blocks}) should return a number"
        if value == right:
            continue
        w = width
        convs = [(3, w // 2, 9), (w // 2, 2 * w, 3), (2 * w, 4 * w, 3), *[(4 * w, 4 * w, 3)] * (2 * blocks),
                 (4 * w, 2 * w, 3), (2 * w, w // 2, 3), (w // 2, 3, 9)]
        kernels = sum(cin * cout * k * k for cin, cout, k in convs)
        biases = sum(cout for _, cout, _ in convs)
        norms = 2 * sum(cout for _, cout, _ in convs[:-1])
        skip = 2 * 3  # the skip path's instance norm: a scale and a shift per colour
        if value in (kernels + norms, kernels + norms + skip):
            return False, "every convolution also has a bias: one number per output channel"
        if value in (kernels + biases, kernels + biases + skip):
            return False, "each instance norm learns a scale and a shift per channel (affine=True); count them too"
        if value == kernels + biases + norms:
            return False, "the skip path has an instance norm too: a scale and a shift for each colour"
        if value == kernels + biases + norms + skip - (81 - 9) * 3 * (w // 2) * 2:
            return False, "the first and the last convolutions are 9×9, the others 3×3"
        return False, f"wrong for width {width}, {blocks} blocks: print(net) and count layer by layer"
    return True, "kernels + biases + two numbers per normalised channel, for any width and number of blocks"


INVARIANT_OPTIONS = {
    "brighter": "x + 0.2", "darker": "0.5 * x", "more contrast": "1.5 * x - 0.25", "negative": "1 - x",
    "mirrored": "x.flip(-1)", "rotated": "x.rot90(1, (-2, -1))",
}


INVARIANT_RIGHT = {"brighter", "darker", "more contrast"}


def _check_invariant(answer: Any) -> tuple[bool, str]:
    """Lesson 10: the input changes a·x + b (a > 0) that instance normalisation after the first convolution
    removes exactly; the rest change the picture."""
    chosen = {answer} if isinstance(answer, str) else set(answer)
    if not chosen:
        return False, f"choose at least one of the changes: {', '.join(INVARIANT_OPTIONS)}"
    unknown = sorted(str(c) for c in chosen - set(INVARIANT_OPTIONS))
    if unknown:
        return False, f"{unknown[0]!r} is not one of the changes: choose among {', '.join(INVARIANT_OPTIONS)}"
    if "negative" in chosen:
        return False, ("1 − x is a·x + b with a < 0: normalising removes the shift and the scale's size, "
                       "not its sign, and the ReLU sees the sign")
    if chosen & {"mirrored", "rotated"}:
        return False, ("moving pixels is not a·x + b: the learned kernels are not symmetric, so the picture "
                       "is not just moved along with them")
    missing = len(INVARIANT_RIGHT - chosen)
    if missing:
        return False, f"right so far, but {missing} more of the changes are of the form a·x + b with a > 0"
    return True, ("conv(a·x + b) = a·conv(x) + a constant per channel, and instance norm removes both: "
                  "the network cannot see brightness or contrast")


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "10_invariant": _check_invariant,
    "10_param_count": _check_param_count,
}
