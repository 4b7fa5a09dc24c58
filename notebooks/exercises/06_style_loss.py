"""The checks of lesson 06_style_loss's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from stlib.losses import gram_matrix

from .common import _check_number, _layer_choice, _near, _number, _random


def _check_convention_factor(answer: Any) -> tuple[bool, str]:
    """The Udacity notes' E_l ÷ the paper's at conv3_1 of a 256 px image: 4M/N = 4·64²/256 = 64."""
    n, m = 256, (256 // 4) ** 2  # conv3_1: 256 channels on a 64×64 grid (two poolings before it)
    return _check_number(answer, 4 * m / n, [
        ((n / (4 * m),), "upside down: the Udacity notes divide by N³M, the paper by 4N²M², so which one is larger?"),
        ((m / n,), "close: the paper's denominator has a 4 the Udacity notes' has not"),
        ((4 * 56 * 56 / 256,), "that is the 224 px table; this image is 256 px on a side"),
        ((4 * 256 * 256 / 256, 4 * 128 * 128 / 256, 4 * 32 * 32 / 256),
         "count the poolings in front of conv3_1: each one halves the height and the width"),
        ((4 * m / 64, 4 * m / 128, 4 * m / 512), "how many feature maps (channels) has conv3_1?"),
    ], "divide the paper's denominator 4N²M² by the Udacity notes' N³M, then put in N and M of conv3_1",
        "the Udacity notes' code weighs conv3_1 4M/N times as much as the paper does")


STYLE_LOSS_HINTS = {
    "raw": "far too large, by a different factor at each layer: divide each layer's Σ(G − A)² by 4N²M² "
           "(N feature maps of M = H·W positions) before weighting it",
    "no_four": "4 times too large: mind the 4 in the paper's 4N²M²",
    "udacity": "that is the Udacity notes' E_l, mean((G − A)²) / (N·M) = Σ(G − A)² / (N³M); "
               "this fill-in asks for the paper's, Σ(G − A)² / (4N²M²)",
    "udacity_swapped": "that looks like the Udacity notes' Σ(G − A)² / (N³M) with N and M swapped; "
                       "N counts the feature maps (C), M the positions (H·W); and the paper divides by 4N²M²",
    "no_weights": "every layer counts the same in your sum: multiply each layer's E_l by its weight w_l",
    "average": "you averaged over the layers: the paper's style loss is the weighted sum Σ_l w_l E_l, "
               "with no division by the number of layers",
    "last_only": "only one layer counts: add each layer's w_l E_l to the total instead of overwriting it",
    "itself": "your loss is 0 although the image's Grams differ from the targets: compare the image's Gram G "
              "with the target A = targets[layer], not with a Gram recomputed from the image",
    "not_tensor": "return a tensor, not a Python number: the optimiser needs its gradient (.item() or float() "
                  "cut the graph)",
    "no_grad": "your loss is a tensor but carries no gradient: .detach(), NumPy or torch.tensor(…) cut it from "
               "the features; compute it from features[layer] with torch operations all the way",
}


def _check_style_loss(fn: Callable) -> tuple[bool, str]:
    """Lesson 06: Σ_l w_l E_l with the paper's E_l = Σ(G − A)² / (4N²M²) (raw Grams), on random features;
    compared with stlib.losses.style_loss(…, convention="paper")."""
    from stlib.losses import style_loss

    shapes = {"conv1_1": (3, 4, 5), "conv2_1": (6, 2, 3), "conv3_1": (4, 3, 3)}  # (N, H, W): tiny, all different
    weights = {"conv1_1": 1.0, "conv2_1": 0.5, "conv3_1": 0.25}
    features = {l: _random(1, *shape, seed=20 + i).requires_grad_(True) for i, (l, shape) in enumerate(shapes.items())}
    style = {l: 2 * _random(1, *shape, seed=30 + i) for i, (l, shape) in enumerate(shapes.items())}
    targets = {l: gram_matrix(f, normalize="none") for l, f in style.items()}
    expected = style_loss(features, {l: gram_matrix(f, normalize="chw") for l, f in style.items()}, weights,
                          convention="paper").item()
    out = fn(dict(features), dict(targets), dict(weights))
    if not isinstance(out, torch.Tensor):
        return False, STYLE_LOSS_HINTS["not_tensor"]
    value = _number(out.detach())
    if value is None:
        return False, f"return one number (a tensor with one value), not a tensor of shape {tuple(out.shape)}"
    if out.grad_fn is None:
        return False, STYLE_LOSS_HINTS["no_grad"]
    if _near(value, expected):
        return True, "Σ_l w_l Σ(G − A)² / (4N²M²): the same as stlib.losses.style_loss(…, convention='paper')"
    squared = {l: float(((gram_matrix(f.detach(), normalize="none") - targets[l]) ** 2).sum())
               for l, f in features.items()}
    n_m = {l: (n, h * w) for l, (n, h, w) in shapes.items()}

    def total(divide, weighted=True):
        return sum((weights[l] if weighted else 1.0) * squared[l] / divide(*n_m[l]) for l in shapes)

    paper = lambda n, m: 4 * n**2 * m**2  # noqa: E731
    last = list(shapes)[-1]
    candidates = [
        ("raw", (total(lambda n, m: 1), total(lambda n, m: 1, weighted=False))),
        ("no_four", (total(lambda n, m: n**2 * m**2),)),
        ("udacity", (total(lambda n, m: n**3 * m), total(lambda n, m: n**3 * m, weighted=False))),
        ("udacity_swapped", (total(lambda n, m: m**3 * n),)),
        ("no_weights", (total(paper, weighted=False),)),
        ("average", (total(paper) / len(shapes), total(paper, weighted=False) / len(shapes))),
        ("last_only", (weights[last] * squared[last] / paper(*n_m[last]), squared[last] / paper(*n_m[last]))),
    ]
    if abs(value) <= 1e-12 * expected:
        return False, STYLE_LOSS_HINTS["itself"]
    for key, values in candidates:
        if _near(value, *values):
            return False, STYLE_LOSS_HINTS[key]
    return False, ("not the paper's style loss: for each layer, G from the image's features, A from targets, "
                   "E_l = Σ(G − A)² / (4N²M²); then Σ_l w_l E_l")


def _check_largest_texture(answer: Any) -> tuple[bool, str]:
    """Lesson 06, predict: of the growing layer sets conv1_1; conv1_1…conv2_1; …; conv1_1…conv5_1, the one ending at
    conv5_1 gives the largest texture elements (full mode, 90 steps: looked at)."""
    return _layer_choice(
        answer, "name the set by its deepest layer, as a string such as 'conv2_1'",
        "each deeper layer sees a larger patch of the image, and its Gram pins down texture at that scale",
        "conv1_1 sees 3×3 pixels: its Gram can only ask for the colours and the finest grain. "
        "Which layer sees the largest patch?",
        "a feature describes the patch it sees, its receptive field: which layer's patch is the largest?")


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "06_convention_factor": _check_convention_factor,
    "06_largest_texture": _check_largest_texture,
    "06_style_loss": _check_style_loss,
}
