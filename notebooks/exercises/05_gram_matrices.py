"""The checks of lesson 05_gram_matrices's exercises (``exercises.check(name, answer)``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .common import _close, _layer_choice, _random

GRAM_HINTS = {
    "transpose": "your Gram is positions × positions, (B, H·W, H·W): multiply the flattened maps the other way "
                 "round, so that the H·W positions are summed over and C × C is left",
    "hw": "off by H·W: this fill-in is the raw Gram F Fᵀ, a sum over the positions; do not divide (the average "
          "over positions is stlib's normalize='hw')",
    "chw": "off by C·H·W: this fill-in is the raw Gram F Fᵀ; do not divide (÷ C·H·W is stlib's "
           "normalize='chw')",
    "batch": "the batch dimension got lost or mixed in: keep B in front and compute one C × C Gram per image",
    "elementwise": "* multiplies entry by entry; a Gram needs every map with every other map, summed over the "
                   "positions: a matrix product (@ or torch.bmm)",
    "contiguous": "view() cannot flatten a non-contiguous tensor (a transposed one, say): "
                  "use reshape() or flatten(), which copy when they must",
    "no_grad": "the values are right but carry no gradient: NumPy, .detach(), .item() or torch.tensor(…) cut "
               "the graph, and the style loss must backpropagate through the Gram to the image; stay with "
               "torch operations",
}


def _check_gram(fn: Callable) -> tuple[bool, str]:
    """Lesson 05: the raw Gram matrices (B, C, C) of features (B, C, H, W), any B, C, H, W, contiguous or not."""
    cases = [_random(2, 3, 4, 5, seed=6),                      # B > 1, C ≠ H·W: shapes tell mistakes apart
             _random(3, 4, 2, 2, seed=7),                      # C = H·W: a wrong transpose keeps the shape
             _random(2, 3, 5, 4, seed=8).transpose(2, 3)]      # (2, 3, 4, 5), not contiguous: H and W swapped
    for x in cases:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        right = flat @ flat.transpose(1, 2)
        x = x.requires_grad_(True)  # the Gram feeds the style loss: the gradient must flow through it
        try:
            out = fn(x.clone(memory_format=torch.preserve_format))
        except RuntimeError as err:
            text = str(err)
            if "view size is not compatible" in text:
                return False, GRAM_HINTS["contiguous"]
            if "must match the size of tensor" in text:
                return False, GRAM_HINTS["elementwise"]
            if "is invalid for input of size" in text:
                return False, GRAM_HINTS["batch"]
            raise
        grad = isinstance(out, torch.Tensor) and out.requires_grad
        out = torch.as_tensor(out).detach().to(torch.float64)
        right = right.detach()
        if _close(out, right):
            if not grad:
                return False, GRAM_HINTS["no_grad"]
            continue
        flat = flat.detach()
        shape = tuple(out.shape)
        if shape == (b, h * w, h * w) and (c != h * w or _close(out, flat.transpose(1, 2) @ flat)):
            return False, GRAM_HINTS["transpose"]
        summed = right.sum(0).expand_as(right)  # one Gram for the whole batch
        if shape in ((c, c), (1, c, c), (b * c, b * c)) or (shape == right.shape and _close(out, summed)):
            return False, GRAM_HINTS["batch"]
        if shape in ((b, c), (b, c, 1)) or (c == h * w and _close(out, flat * flat.transpose(1, 2))):
            return False, GRAM_HINTS["elementwise"]
        if shape == right.shape and _close(out, right / (h * w)):
            return False, GRAM_HINTS["hw"]
        if shape == right.shape and _close(out, right / (c * h * w)):
            return False, GRAM_HINTS["chw"]
        if shape != right.shape:
            return False, f"for features {(b, c, h, w)} the Gram should be (B, C, C) = {(b, c, c)}, not {shape}"
        return False, (f"wrong values for features {(b, c, h, w)}: G[b, i, j] is the dot product of maps i and j "
                       "of image b")
    return True, "matches stlib.gram_matrix(…, normalize=False) for batches, any C, H, W, contiguous or not"


def _check_tiles_layer(answer: Any) -> tuple[bool, str]:
    """Lesson 05, predict: shuffling 4 × 4 tiles of the cat changes the Gram most at conv5_1 (full and fast mode;
    the change grows with depth)."""
    return _layer_choice(
        answer, "name one of the five style layers, as a string such as 'conv2_1'",
        "the deepest layer sees the largest regions, and the most of them straddle a seam between tiles",
        "conv1_1 sees 3×3 pixels, and almost every 3×3 patch is still there after the shuffle: "
        "which layer sees the most of the image at once?",
        "a feature changes when the region it sees straddles a seam between tiles: "
        "which layer sees the largest regions?")


CHECKS: dict[str, Callable[[Any], tuple[bool, str]]] = {
    "05_gram": _check_gram,
    "05_tiles_layer": _check_tiles_layer,
}
