"""What the lessons' checks share: tiny random tensors, number and choice checks, one thread."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import torch


@contextlib.contextmanager
def _one_thread():
    """Tensors this small: threads only add waiting (50× slower on a busy 2-core CPU). Also a decorator."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _close(a: Any, b: torch.Tensor) -> bool:
    a = torch.as_tensor(a, dtype=torch.float64)
    return a.shape == b.shape and torch.allclose(a, b.to(torch.float64), rtol=1e-5, atol=1e-8)


def _number(answer: Any) -> float | None:
    try:
        value = float(answer)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of more than one value
        return None
    return value if math.isfinite(value) else None


def _near(value: float, *targets: float) -> bool:
    return any(math.isclose(value, t, rel_tol=5e-3) for t in targets)


def _check_number(answer: Any, right: float, wrong: list[tuple[tuple[float, ...], str]], otherwise: str,
                  correct: str) -> tuple[bool, str]:
    """A derived number: right within 0.5 %; a known mistake (``wrong``: values → hint) gets its hint."""
    value = _number(answer)
    if value is None:
        return False, f"{answer!r} is not a number: write the factor as a number or an expression such as 3 * 4"
    if _near(value, right):
        return True, correct
    for values, hint in wrong:
        if _near(value, *values):
            return False, hint
    return False, otherwise


def _choice(answer: Any, options: Sequence[str], right: set[str], also: set[str], what: str, *,
            look: str = "look again at their last snapshot",
            look_all: str = "look at every row's last snapshot") -> tuple[bool, str]:
    """A set of runs chosen from a lesson's pictures: every one of ``right``, perhaps some of ``also`` (borderline
    in the full-mode pictures), nothing else. The hints count, never name, the runs to look at again (``look``:
    what to do about a wrong choice, ``look_all``: about a missing one; a prediction made before the pictures
    are drawn gets hints that reason instead)."""
    items = [answer] if isinstance(answer, (str, int, float)) else list(answer)
    chosen = {str(item) if isinstance(item, str) else f"{item:g}" for item in items}
    if not chosen:
        return False, f"choose at least one of the {what}: {', '.join(options)}"
    unknown = sorted(chosen - set(options))
    if unknown:
        return False, f"{unknown[0]!r} is not one of the {what} above: choose among {', '.join(options)}"
    wrong, missing = len(chosen - right - also), len(right - chosen)
    if wrong:
        return False, f"{wrong} of your {len(chosen)} choices do not fit: {look}"
    if missing:
        return False, f"right so far, but {missing} more {what} fit: {look_all}"
    return True, f"those are the {what} that fit"


STYLE_LAYER_NAMES = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def _one_layer(answer: Any) -> str | None:
    items = [answer] if isinstance(answer, str) else list(answer) if isinstance(answer, (list, tuple, set)) else []
    return str(items[0]).strip() if len(items) == 1 else None


def _layer_choice(answer: Any, name_it: str, right: str, at_conv1_1: str, otherwise: str) -> tuple[bool, str]:
    """A predicted style layer: conv5_1 is right; conv1_1 and the rest each get their hint."""
    layer = _one_layer(answer)
    if layer not in STYLE_LAYER_NAMES:
        return False, name_it
    if layer == "conv5_1":
        return True, right
    return False, at_conv1_1 if layer == "conv1_1" else otherwise
