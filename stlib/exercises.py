"""Checks for the lessons' exercises: one line, right or not yet, never the solution.

In a lesson: ``exercises.check("05_gram", gram)`` prints ``✓ correct …`` or
``✗ not yet: <hint>`` and returns True/False. Solutions for instructors live in
``notebooks/solutions/``; the tests run every check against them and against
wrong answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .losses import content_loss, gram_matrix, total_variation
from .models import LAYER_INDEX, resolve_layer


def _random(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _close(a: Any, b: torch.Tensor) -> bool:
    a = torch.as_tensor(a, dtype=torch.float64)
    return a.shape == b.shape and torch.allclose(a, b.to(torch.float64), rtol=1e-5, atol=1e-8)


def _check_gradient(fn: Callable) -> tuple[bool, str]:
    for seed, shape in ((0, (2, 2)), (1, (3, 4))):
        x = _random(*shape, seed=seed)
        expected = torch.full_like(x, 2 * float(x.sum()))
        if not _close(fn(x.clone()), expected):
            return False, f"wrong gradient for a {shape[0]}×{shape[1]} input; use the chain rule: dz/dy · dy/dx"
    return True, "the gradient of (Σx)² is the same for every entry"


def _check_content_loss(fn: Callable) -> tuple[bool, str]:
    f, p = _random(1, 4, 3, 3, seed=1), _random(1, 4, 3, 3, seed=2)
    if not _close(fn(f, p), content_loss(f, p)):
        return False, "compare with the lecture: the mean of squared differences over all feature values"
    return True, "matches stlib.content_loss"


def _check_layout_layer(answer: str) -> tuple[bool, str]:
    try:
        layer = resolve_layer(str(answer))
    except ValueError:
        return False, f"{answer!r} is not a VGG19 layer name (e.g. conv2_1, block3)"
    if LAYER_INDEX[layer] < LAYER_INDEX["conv4_1"]:
        return False, f"{answer} still copies fine texture; look at the reconstructions of deeper layers"
    return True, f"{answer} keeps the layout and lets the detail go"


def _check_random_layer(answer: str) -> tuple[bool, str]:
    try:
        layer = resolve_layer(str(answer))
    except ValueError:
        return False, f"{answer!r} is not a VGG19 layer name"
    if LAYER_INDEX[layer] > LAYER_INDEX["pool1"]:
        return False, "that layer's random features lose too much; look at the first row of the comparison"
    return True, "a random first layer is still an (almost) invertible local linear map"


def _check_two_targets(fn: Callable) -> tuple[bool, str]:
    f, p1, p2 = (_random(1, 4, 3, 3, seed=s) for s in (3, 4, 5))
    for w in (0.0, 0.3, 1.0):
        expected = w * content_loss(f, p1) + (1 - w) * content_loss(f, p2)
        if not _close(fn(f, p1, p2, w), expected):
            return False, f"wrong value at balance {w}; balance 1 should be pure target 1"
    return True, "the balance mixes the two content losses"


def _check_gram(fn: Callable) -> tuple[bool, str]:
    v = torch.tensor([[4.0, 0, 3, 1], [3, 0, 1, 2], [4, 5, 0, 3]], dtype=torch.float64).view(1, 3, 2, 2)
    if not _close(fn(v), gram_matrix(v, normalize=False)):
        return False, "for the lecture's V the answer should be 3×3 per image: G = F Fᵀ over positions"
    x = _random(2, 5, 4, 3, seed=6)
    if not _close(fn(x), gram_matrix(x, normalize=False)):
        return False, "right for one image but not for a batch (B, C, H, W)"
    return True, "matches stlib.gram_matrix(…, normalize=False)"


def _check_gram_distance(fn: Callable) -> tuple[bool, str]:
    g, a = _random(1, 6, 6, seed=7), _random(1, 6, 6, seed=8)
    n, m = 6, 20
    expected = (g - a).pow(2).sum() / (4 * n**2 * m**2)
    if not _close(fn(g, a, n, m), expected):
        return False, "use the paper's E_l = Σ(G − A)² / (4 N² M²)"
    return True, "that is Gatys et al.'s E_l"


def _check_tv(fn: Callable) -> tuple[bool, str]:
    x = _random(1, 3, 5, 4, seed=9)
    if not _close(fn(x), total_variation(x, reduction="sum")):
        return False, "sum the squared differences to the right neighbour and to the neighbour below"
    return True, "matches stlib.total_variation(…, reduction='sum')"


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "01_gradient": _check_gradient,
    "02_content_loss": _check_content_loss,
    "02_layout_layer": _check_layout_layer,
    "03_random_layer": _check_random_layer,
    "04_two_targets": _check_two_targets,
    "05_gram": _check_gram,
    "06_gram_distance": _check_gram_distance,
    "07_tv": _check_tv,
}


def check(name: str, answer: Any, *, quiet: bool = False) -> bool:
    """Check exercise ``name``; print one line; return whether the answer is right."""
    if name not in CHECKS:
        raise KeyError(f"no exercise {name!r}; known: {', '.join(CHECKS)}")
    try:
        if answer is None:
            raise NotImplementedError
        ok, message = CHECKS[name](answer)
    except NotImplementedError:
        ok, message = False, "fill in the exercise above, then run this cell again"
    except Exception as err:  # noqa: BLE001 - a student's bug becomes a hint, not a traceback
        ok, message = False, f"your code raised {type(err).__name__}: {err}"
    if not quiet:
        print(("✓ correct: " if ok else "✗ not yet: ") + message)
    return ok
